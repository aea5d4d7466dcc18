//! `node-agent`: one hypervisor's agent. Holds the sync stream to the controller and programs the
//! node's kernel (port programs and policies, bridges and VXLAN, DHCP); see `docs/agent.md`.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use node_agent::agent_metrics::AgentMetrics;
use node_agent::desired::{Applied, DesiredStore, NodeIntent, NodeSettings, node_intent};
use node_agent::network::DeviceNames;
use node_agent::reconcile::Kernel;
use node_agent::rule_ids::RuleIds;
use node_agent::sync_client::{self, Applier, Backoff, SyncConfig, TlsFiles};
use sdn_proto::v1 as pb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const USAGE: &str = "\
node-agent: programs one hypervisor's kernel from the controller's desired state

usage: node-agent --controller URL --node-id UUID --underlay-ip IP [options]

  --controller URL        the controller's gRPC endpoint (http://... with --insecure, else https://...)
  --node-id UUID          this node's id (with mTLS, the one its certificate names)
  --node-name NAME        name used when the node registers (default: the node id)
  --underlay-ip IP        this node's underlay (VTEP) address
  --roles LIST            compute, lb, or compute,lb (default: compute)
  --netns PATH            network namespace to program (default: /proc/self/ns/net, the agent's own)
  --pin-dir DIR           bpffs directory for pinned maps and links (default: /sys/fs/bpf/sdn/<node-id>)
  --device-prefix P       prefix of network bridge/VXLAN names (default: sdn)
  --metrics-listen ADDR   where /metrics is served (default: 127.0.0.1:9451)
  --insecure              plaintext to the controller (tests and labs only)
  --ca FILE --cert FILE --key FILE
                          mutual TLS: the CA of the controller's certificate, this node's certificate and key
  --tls-server-name NAME  name to check the controller's certificate against (default: the URL's host)
  --drift-interval SECS   how often kernel state is compared with the intent and repaired (default: 10)
  --sweep-interval SECS   how often expired conntrack entries are deleted (default: 5)
  --backoff-max SECS      longest delay between reconnection attempts (default: 5)
  -h, --help              this text

Logs: RUST_LOG (default info).";

#[derive(Debug)]
struct Options {
    controller: String,
    node_id: String,
    node_name: String,
    underlay: IpAddr,
    roles: Vec<pb::NodeRole>,
    netns: PathBuf,
    pin_dir: PathBuf,
    devices: DeviceNames,
    metrics_listen: SocketAddr,
    tls: Option<TlsFiles>,
    drift_interval: Duration,
    sweep_interval: Duration,
    backoff_max: Duration,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut values: std::collections::BTreeMap<String, String> = Default::default();
    let mut insecure = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let Some(flag) = arg.strip_prefix("--") else {
            return Err(format!("unexpected argument {arg:?}; see --help"));
        };
        if flag == "insecure" {
            insecure = true;
            continue;
        }
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n.to_owned(), v.to_owned()),
            None => {
                let v = it
                    .next()
                    .ok_or_else(|| format!("--{flag} needs a value; see --help"))?;
                (flag.to_owned(), v.clone())
            }
        };
        const KNOWN: &[&str] = &[
            "controller",
            "node-id",
            "node-name",
            "underlay-ip",
            "roles",
            "netns",
            "pin-dir",
            "device-prefix",
            "metrics-listen",
            "ca",
            "cert",
            "key",
            "tls-server-name",
            "drift-interval",
            "sweep-interval",
            "backoff-max",
        ];
        if !KNOWN.contains(&name.as_str()) {
            return Err(format!("unknown flag --{name}; see --help"));
        }
        values.insert(name, value);
    }
    let required = |k: &str| {
        values
            .get(k)
            .cloned()
            .ok_or_else(|| format!("--{k} is required; see --help"))
    };
    let controller = required("controller")?;
    let node_id = required("node-id")?;
    if node_agent::desired::port_device(&node_id).is_none() {
        return Err(format!("--node-id {node_id:?} is not a UUID"));
    }
    let underlay: IpAddr = required("underlay-ip")?
        .parse()
        .map_err(|e| format!("--underlay-ip: {e}"))?;
    let mut roles = Vec::new();
    for r in values
        .get("roles")
        .map_or("compute", String::as_str)
        .split(',')
    {
        roles.push(match r.trim() {
            "compute" => pb::NodeRole::Compute,
            "lb" => pb::NodeRole::Lb,
            other => {
                return Err(format!(
                    "--roles: unknown role {other:?}; use compute and/or lb"
                ));
            }
        });
    }
    let secs = |k: &str, default: u64| -> Result<Duration, String> {
        values.get(k).map_or(Ok(Duration::from_secs(default)), |v| {
            v.parse::<f64>()
                .ok()
                .filter(|s| *s > 0.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| format!("--{k}: {v:?} is not a positive number of seconds"))
        })
    };
    let tls = match (values.get("ca"), values.get("cert"), values.get("key")) {
        (Some(ca), Some(cert), Some(key)) => Some(TlsFiles {
            ca: ca.into(),
            cert: cert.into(),
            key: key.into(),
            server_name: values.get("tls-server-name").cloned(),
        }),
        (None, None, None) if insecure => None,
        (None, None, None) => {
            return Err(
                "give --ca, --cert and --key for mutual TLS, or --insecure for plaintext".into(),
            );
        }
        _ => return Err("--ca, --cert and --key go together".into()),
    };
    if tls.is_none() && !controller.starts_with("http://") {
        return Err("with --insecure the controller URL starts with http://".into());
    }
    if tls.is_some() && !controller.starts_with("https://") {
        return Err("with mutual TLS the controller URL starts with https://".into());
    }
    Ok(Options {
        node_name: values
            .get("node-name")
            .cloned()
            .unwrap_or_else(|| node_id.clone()),
        pin_dir: values.get("pin-dir").map_or_else(
            || PathBuf::from("/sys/fs/bpf/sdn").join(&node_id),
            PathBuf::from,
        ),
        netns: values
            .get("netns")
            .map_or_else(|| PathBuf::from("/proc/self/ns/net"), PathBuf::from),
        devices: DeviceNames::new(values.get("device-prefix").map_or("sdn", String::as_str))
            .map_err(|e| format!("--device-prefix: {e}"))?,
        metrics_listen: values
            .get("metrics-listen")
            .map_or("127.0.0.1:9451", String::as_str)
            .parse()
            .map_err(|e| format!("--metrics-listen: {e}"))?,
        drift_interval: secs("drift-interval", 10)?,
        sweep_interval: secs("sweep-interval", 5)?,
        backoff_max: secs("backoff-max", 5)?,
        controller,
        node_id,
        underlay,
        roles,
        tls,
    })
}

/// What the sync loop, the drift loop and the metrics share.
struct Shared {
    kernel: Mutex<Kernel>,
    /// The last intent applied and the rule ids it used.
    intent: Mutex<(Option<NodeIntent>, RuleIds)>,
    metrics: AgentMetrics,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Reconciler {
    shared: Arc<Shared>,
    settings: NodeSettings,
}

impl Applier for Reconciler {
    async fn apply(&mut self, store: &DesiredStore, applied: &Applied) -> Vec<pb::ApplyError> {
        let intent = {
            let mut guard = lock(&self.shared.intent);
            node_intent(store, &self.settings, &mut guard.1)
        };
        let revoke: BTreeSet<String> = intent
            .ports
            .values()
            .filter(|p| p.groups.iter().any(|g| applied.revoking_groups.contains(g)))
            .map(|p| p.id.clone())
            .collect();
        let shared = self.shared.clone();
        let planned = intent.clone();
        let started = Instant::now();
        let mut problems =
            tokio::task::spawn_blocking(move || lock(&shared.kernel).apply(&planned, &revoke))
                .await
                .unwrap_or_else(|e| {
                    vec![node_agent::desired::Problem {
                        kind: pb::ObjectKind::Unspecified,
                        id: String::new(),
                        reason: format!("apply panicked: {e}"),
                    }]
                });
        self.shared
            .metrics
            .apply_seconds
            .observe(started.elapsed().as_secs_f64());
        problems.extend(intent.problems.iter().cloned());
        for p in &problems {
            tracing::warn!(kind = ?p.kind, id = %p.id, "not applied: {}", p.reason);
        }
        self.shared.metrics.apply_errors.set(problems.len() as i64);
        lock(&self.shared.intent).0 = Some(intent);
        problems
            .into_iter()
            .map(|p| pb::ApplyError {
                kind: p.kind as i32,
                id: p.id,
                reason: p.reason,
            })
            .collect()
    }
}

async fn drift_loop(shared: Arc<Shared>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(intent) = lock(&shared.intent).0.clone() else {
            continue;
        };
        let s = shared.clone();
        let Ok((repairs, problems)) =
            tokio::task::spawn_blocking(move || lock(&s.kernel).check_drift(&intent)).await
        else {
            continue;
        };
        for r in &repairs {
            tracing::warn!(what = r.what, "drift repaired: {}", r.detail);
            shared.metrics.repairs.with_label_values(&[r.what]).inc();
        }
        for p in &problems {
            tracing::warn!(kind = ?p.kind, id = %p.id, "drift not repaired: {}", p.reason);
        }
    }
}

async fn sweep_loop(shared: Arc<Shared>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let s = shared.clone();
        match tokio::task::spawn_blocking(move || {
            lock(&s.kernel).sweep_conntrack().map_err(|e| e.to_string())
        })
        .await
        {
            Ok(Ok(live)) => shared.metrics.conntrack.set(live as i64),
            Ok(Err(e)) => tracing::warn!("conntrack sweep: {e}"),
            Err(_) => {}
        }
    }
}

/// `GET /metrics`: reads the kernel's counters, then the text exposition; anything else 404.
async fn serve_metrics(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut len = 0;
            while len < buf.len() {
                match conn.read(&mut buf[len..]).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => len += n,
                }
                if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let head = String::from_utf8_lossy(&buf[..len]);
            let (status, body) = if head.starts_with("GET /metrics ") {
                let s = shared.clone();
                if let Ok(reading) =
                    tokio::task::spawn_blocking(move || lock(&s.kernel).read()).await
                {
                    let ids = lock(&shared.intent).1.clone();
                    shared.metrics.observe(&reading, &ids);
                }
                ("200 OK", shared.metrics.render())
            } else {
                ("404 Not Found", "try /metrics\n".to_string())
            };
            let reply = format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(reply.as_bytes()).await;
        });
    }
}

async fn run(options: Options, kernel: Kernel) -> Result<(), String> {
    let shared = Arc::new(Shared {
        kernel: Mutex::new(kernel),
        intent: Mutex::new((None, RuleIds::new())),
        metrics: AgentMetrics::new(),
    });
    let listener = tokio::net::TcpListener::bind(options.metrics_listen)
        .await
        .map_err(|e| format!("listen on {} for metrics: {e}", options.metrics_listen))?;
    tokio::spawn(serve_metrics(listener, shared.clone()));
    tokio::spawn(drift_loop(shared.clone(), options.drift_interval));
    tokio::spawn(sweep_loop(shared.clone(), options.sweep_interval));
    let mut settings = NodeSettings::new(options.underlay);
    settings.devices = options.devices.clone();
    let mut reconciler = Reconciler {
        shared: shared.clone(),
        settings,
    };
    let config = SyncConfig {
        controller: options.controller.clone(),
        tls: options.tls.clone(),
        hello: pb::Hello {
            node_id: options.node_id.clone(),
            node_name: options.node_name.clone(),
            last_applied_revision: 0,
            agent_version: env!("CARGO_PKG_VERSION").into(),
            capabilities: vec!["xdp".into(), "tcx".into(), "vxlan".into(), "dhcpv4".into()],
            underlay_ip: options.underlay.to_string(),
            roles: options.roles.iter().map(|r| *r as i32).collect(),
        },
        backoff: Backoff::new(Duration::from_millis(100), options.backoff_max),
    };
    tracing::info!(
        node = %options.node_id,
        netns = %options.netns.display(),
        pins = %options.pin_dir.display(),
        metrics = %options.metrics_listen,
        "node agent running"
    );
    let mut store = DesiredStore::new();
    let shutdown = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::select! {
        () = sync_client::run(config, &mut store, &mut reconciler, &shared.metrics) => {}
        () = shutdown => {
            tracing::info!("stopping; programs, maps and links stay pinned and keep enforcing");
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let options = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("node-agent: {e}");
            return ExitCode::FAILURE;
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    // Loading happens before any async runtime exists: it enters the node's namespace on
    // scoped threads only.
    let kernel = match Kernel::open(&options.netns, &options.pin_dir, options.devices.clone()) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("node-agent: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("node-agent: start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(options, kernel)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("node-agent: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn flags_parse_with_defaults() {
        let o = parse(&args(
            "--controller http://127.0.0.1:7450 --node-id 6f1c2b8e-4a5d-4e6f-8a9b-0c1d2e3f4a5b \
             --underlay-ip 198.18.0.1 --roles compute,lb --insecure --drift-interval=0.5",
        ))
        .unwrap();
        assert_eq!(o.roles, vec![pb::NodeRole::Compute, pb::NodeRole::Lb]);
        assert_eq!(o.node_name, o.node_id);
        assert_eq!(o.drift_interval, Duration::from_millis(500));
        assert_eq!(o.netns, PathBuf::from("/proc/self/ns/net"));
        assert!(o.tls.is_none());
    }

    #[test]
    fn bad_flags_say_what_to_do() {
        let e = parse(&args(
            "--controller http://x --node-id nope --underlay-ip 198.18.0.1",
        ))
        .unwrap_err();
        assert!(e.contains("not a UUID"), "{e}");
        let e = parse(&args(
            "--controller http://x --node-id 6f1c2b8e-4a5d-4e6f-8a9b-0c1d2e3f4a5b --underlay-ip 198.18.0.1",
        ))
        .unwrap_err();
        assert!(e.contains("--insecure"), "{e}");
        let e = parse(&args("--bogus 1")).unwrap_err();
        assert!(e.contains("unknown flag"), "{e}");
    }
}
