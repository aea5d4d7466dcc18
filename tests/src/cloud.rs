//! A small cloud inside a [`Lab`]: the real `sdn-controller` (on loopback, over a throwaway etcd)
//! and one real `node-agent` per hypervisor, driven through the controller's gRPC API.
//!
//! ```text
//!   etcd <- sdn-controller (127.0.0.1) <- node-agent hv1 --netns-> hypervisor hv1 (ports, VXLAN)
//!                                      <- node-agent hv2 --netns-> hypervisor hv2
//! ```
//!
//! The controller and the agents run in the root namespace (their gRPC stream reaches 127.0.0.1);
//! each agent programs its hypervisor's namespace (`--netns`) and pins under the lab's pin
//! directory of that node. They carry the lab's prefix in their environment, so the lab's cleanup
//! (and `cargo xtask lab-clean`) kills them even when their guards never run. Used by
//! `tests/agent_lab.rs` and `sdn-lab demo`.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use sdn_proto::v1 as pb;
use sdn_proto::v1::controller_client::ControllerClient;
use tonic::transport::Channel;

use crate::{Lab, PREFIX_ENV};

/// A free TCP port on 127.0.0.1 (free when asked; bind it soon).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral loopback port")
}

/// The directory holding the workspace's binaries: the running executable's directory, or its
/// parent when it runs from `deps/` (a test binary).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("executable path");
    let dir = exe.parent().expect("the executable has a directory");
    if dir.file_name().is_some_and(|d| d == "deps") {
        dir.parent().expect("target/<profile>/deps").to_owned()
    } else {
        dir.to_owned()
    }
}

/// Builds the workspace binaries named (each the package's binary of the same name, e.g.
/// `node-agent`, `sdn-controller`, `sdnctl`) in the profile of the running executable; a no-op
/// when they are current.
pub fn build_binaries(binaries: &[&str]) -> Result<()> {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace).arg("build");
    // What `cargo run`/`cargo test` set for this crate would reach build scripts that watch it
    // (ring's watches CARGO_MANIFEST_DIR) and rebuild half the tree each time; a plain `cargo
    // build` from a shell and this one then share their artifacts.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PKG_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
            ]
            .contains(&key.as_ref())
        {
            cmd.env_remove(key.as_ref());
        }
    }
    for bin in binaries {
        cmd.args(["-p", bin, "--bin", bin]);
    }
    if bin_dir().file_name().is_some_and(|p| p == "release") {
        cmd.arg("--release");
    }
    let status = cmd.status().context("run cargo build")?;
    if !status.success() {
        bail!("cargo build of {} failed", binaries.join(", "));
    }
    Ok(())
}

/// A process of the cloud in the root namespace, in its own process group (a terminal's Ctrl-C
/// reaches only its owner, which then cleans up in order), carrying the lab's prefix in its
/// environment and killed with SIGKILL if the thread that started it dies. Killed (SIGKILL) and
/// reaped on drop; its log (under the lab's log directory) is printed when dropped during a panic.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    /// Starts `program` from [`bin_dir`] with `args`; `name` names it in messages and its log.
    pub fn start(lab: &Lab, name: &str, program: &str, args: &[String]) -> Result<Proc> {
        let dir = crate::naming::log_dir(lab.prefix());
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let log = dir.join(format!("{}.log", name.replace(' ', "-")));
        let out = std::fs::File::create(&log)
            .with_context(|| format!("create log file {}", log.display()))?;
        let mut cmd = Command::new(bin_dir().join(program));
        cmd.args(args)
            // The lab's cleanup also kills whatever carries its prefix.
            .env(PREFIX_ENV, lab.prefix())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().context("dup log")?)
            .stderr(out)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("start {}", bin_dir().join(program).display()))?;
        Ok(Proc {
            name: name.to_owned(),
            child: Some(child),
            log,
        })
    }

    /// Its pid (0 once killed).
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    /// Sends `sig` to it.
    ///
    /// # Panics
    /// When the signal cannot be sent.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig).expect("signal");
    }

    /// Whether it has exited (it is then reaped).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// The file receiving its stdout and stderr.
    pub fn log_path(&self) -> &std::path::Path {
        &self.log
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// SIGKILLs and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- last lines of {} ---", self.name);
            eprintln!("{}", self.log_tail(40));
        }
    }
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`.
pub fn wait_listening(port: u16, timeout: Duration) -> Result<()> {
    wait_for(&format!("a listener on 127.0.0.1:{port}"), timeout, || {
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
    })
}

/// The `sdn-controller` binary, plaintext (`--insecure`) on 127.0.0.1.
#[derive(Debug)]
pub struct Controller {
    /// The process.
    pub proc: Proc,
    /// Its gRPC port (API and agent sync).
    pub port: u16,
    /// Its `/metrics` port.
    pub metrics_port: u16,
}

impl Controller {
    /// Starts it on 127.0.0.1:`port` over the etcd at `etcd` and waits until it listens.
    pub fn start(lab: &Lab, etcd: &str, port: u16) -> Result<Controller> {
        let metrics_port = free_port();
        let mut proc = Proc::start(
            lab,
            "sdn-controller",
            "sdn-controller",
            &[
                format!("--etcd-endpoints={etcd}"),
                "--insecure".into(),
                format!("--listen=127.0.0.1:{port}"),
                format!("--metrics-listen=127.0.0.1:{metrics_port}"),
            ],
        )?;
        if let Err(e) = wait_listening(port, Duration::from_secs(15)) {
            let status = proc.exited();
            bail!(
                "{e} (sdn-controller {}):\n{}",
                status.map_or("still running".into(), |s| s.to_string()),
                proc.log_tail(20)
            );
        }
        Ok(Controller {
            proc,
            port,
            metrics_port,
        })
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGKILLs it.
    pub fn kill(&mut self) {
        self.proc.kill();
    }
}

/// A `node-agent` process programming one hypervisor of the lab.
#[derive(Debug)]
pub struct Agent {
    /// The process.
    pub proc: Proc,
    /// The hypervisor (lab node) it programs.
    pub hypervisor: String,
    /// The node id it registers.
    pub node_id: String,
    /// Its `/metrics` port on 127.0.0.1.
    pub metrics_port: u16,
}

impl Agent {
    /// Starts the agent of hypervisor `hv` as node `node_id` (named `hv`) with VTEP `underlay`,
    /// connected to the controller on 127.0.0.1:`controller_port`; short drift (1 s), sweep (2 s)
    /// and backoff (1 s) intervals for labs.
    pub fn start(
        lab: &Lab,
        hv: &str,
        node_id: &str,
        underlay: &str,
        controller_port: u16,
    ) -> Result<Agent> {
        let metrics_port = free_port();
        let proc = Proc::start(
            lab,
            &format!("node-agent {hv}"),
            "node-agent",
            &[
                format!("--controller=http://127.0.0.1:{controller_port}"),
                "--insecure".into(),
                format!("--node-id={node_id}"),
                format!("--node-name={hv}"),
                format!("--underlay-ip={underlay}"),
                format!("--netns={}", lab.netns_path(hv).display()),
                format!("--pin-dir={}", lab.pin_dir(hv).display()),
                format!("--metrics-listen=127.0.0.1:{metrics_port}"),
                "--drift-interval=1".into(),
                "--sweep-interval=2".into(),
                "--backoff-max=1".into(),
            ],
        )?;
        Ok(Agent {
            proc,
            hypervisor: hv.to_owned(),
            node_id: node_id.to_owned(),
            metrics_port,
        })
    }

    /// Its `/metrics` text (empty when it does not answer).
    pub fn scrape(&self) -> String {
        scrape(self.metrics_port)
    }

    /// Where its `/metrics` is.
    pub fn metrics_url(&self) -> String {
        format!("http://127.0.0.1:{}/metrics", self.metrics_port)
    }
}

/// `GET /metrics` on 127.0.0.1:`port`; empty when nothing answers.
pub fn scrape(port: u16) -> String {
    let Ok(mut s) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(
        s,
        "GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    );
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// The value of the first metric line starting with `series` (name and labels), if present.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// One line of a Prometheus text exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric name.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

impl Sample {
    /// The value of label `name` (empty when absent).
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }
}

/// Every sample of a Prometheus text exposition (comments, HTTP headers and lines that do not
/// parse are skipped; label values are taken as written, without unescaping).
pub fn samples(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || !line.starts_with("sdn_") {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let labels = labels
            .split("\",")
            .filter_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                Some((k.to_owned(), v.trim_matches('"').to_owned()))
            })
            .collect();
        out.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    out
}

/// Polls `check` every 100 ms until it holds; an error naming `what` after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while !check() {
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// [`wait_for`] for tests: panics on timeout.
///
/// # Panics
/// When `check` does not hold within `timeout`.
pub fn eventually(what: &str, timeout: Duration, check: impl FnMut() -> bool) {
    if let Err(e) = wait_for(what, timeout, check) {
        panic!("{e}");
    }
}

/// Object metadata with only a name.
pub fn meta(name: &str) -> Option<pb::ObjectMeta> {
    Some(pb::ObjectMeta {
        name: name.into(),
        ..Default::default()
    })
}

/// A wait of `secs` seconds for mutations that can wait.
pub fn wait(secs: u64) -> Option<pb::Wait> {
    Some(pb::Wait {
        timeout: Some(
            Duration::from_secs(secs)
                .try_into()
                .expect("a small duration"),
        ),
    })
}

/// The id in an object's metadata (empty when absent).
pub fn id_of(meta: &Option<pb::ObjectMeta>) -> String {
    meta.as_ref().map(|m| m.id.clone()).unwrap_or_default()
}

/// An ingress rule for `proto` (port `port`, 0 = every port) from `remote`.
pub fn ingress_rule(
    proto: pb::ProtocolName,
    port: u32,
    remote: pb::security_rule::Remote,
) -> pb::SecurityRule {
    pb::SecurityRule {
        direction: pb::Direction::Ingress as i32,
        protocol: Some(pb::security_rule::Protocol::ProtocolName(proto as i32)),
        port_from: port,
        remote: Some(remote),
        ..Default::default()
    }
}

/// A rule's remote: a CIDR.
pub fn from_cidr(cidr: &str) -> pb::security_rule::Remote {
    pb::security_rule::Remote::RemoteCidr(cidr.into())
}

/// A rule's remote: the members of a group.
pub fn from_group(group_id: &str) -> pb::security_rule::Remote {
    pb::security_rule::Remote::RemoteGroupId(group_id.into())
}

/// The device name the agent expects for a port (`sdn` + 12 hex digits of its id).
///
/// # Panics
/// When `port_id` is not a UUID.
pub fn device(port_id: &str) -> String {
    node_agent::desired::port_device(port_id).expect("port ids are uuids")
}

/// The orchestrator's side of the contract: renames `instance`'s host-side port to the device
/// name of port `port_id` (in its hypervisor's namespace) so that the agent adopts it. Returns
/// the device name.
///
/// # Panics
/// When `ip` fails.
pub fn adopt_device(lab: &Lab, instance: &str, port_id: &str) -> String {
    let inst = lab.instance(instance);
    let dev = device(port_id);
    for args in [
        vec!["ip", "link", "set", "dev", &inst.port, "down"],
        vec!["ip", "link", "set", "dev", &inst.port, "name", &dev],
        vec!["ip", "link", "set", "dev", &dev, "up"],
    ] {
        lab.exec(&inst.hypervisor, &args);
    }
    dev
}

/// A blocking client of the controller's gRPC API (its own single-threaded runtime).
#[derive(Debug)]
pub struct Api {
    rt: tokio::runtime::Runtime,
    client: ControllerClient<Channel>,
}

impl Api {
    /// Connects to `url` (`http://127.0.0.1:PORT`).
    pub fn connect(url: &str) -> Result<Api> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("tokio runtime")?;
        let client = rt
            .block_on(ControllerClient::connect(url.to_owned()))
            .with_context(|| format!("connect to the controller at {url}"))?;
        Ok(Api { rt, client })
    }

    /// Runs one call: `f` gets a handle to the client (cheap clone) and returns its future.
    pub fn call<T, F, Fut>(&mut self, f: F) -> T
    where
        F: FnOnce(ControllerClient<Channel>) -> Fut,
        Fut: Future<Output = T>,
    {
        self.rt.block_on(f(self.client.clone()))
    }

    /// Waits until every node of `node_ids` has registered (agents register with their first
    /// hello).
    pub fn wait_for_nodes(&mut self, node_ids: &[&str], timeout: Duration) -> Result<()> {
        for node in node_ids {
            let id = (*node).to_owned();
            wait_for(&format!("node {node} to register"), timeout, || {
                let id = id.clone();
                self.call(|mut c| async move { c.get_node(pb::GetRequest { id }).await })
                    .is_ok()
            })?;
        }
        Ok(())
    }

    /// Creates a private network with IPv4 CIDR `cidr` (VNI from the controller).
    pub fn create_network(&mut self, name: &str, cidr: &str) -> Result<pb::PrivateNetwork> {
        let req = pb::CreateNetworkRequest {
            network: Some(pb::PrivateNetwork {
                meta: meta(name),
                ipv4_cidr: cidr.into(),
                ..Default::default()
            }),
        };
        let resp = self
            .call(|mut c| async move { c.create_network(req).await })
            .with_context(|| format!("create network {name}"))?;
        resp.into_inner()
            .network
            .ok_or_else(|| anyhow!("no network in the response"))
    }

    /// Creates a security group.
    pub fn create_group(
        &mut self,
        name: &str,
        rules: Vec<pb::SecurityRule>,
    ) -> Result<pb::SecurityGroup> {
        let req = pb::CreateSecurityGroupRequest {
            group: Some(pb::SecurityGroup {
                meta: meta(name),
                rules,
                ..Default::default()
            }),
        };
        let resp = self
            .call(|mut c| async move { c.create_security_group(req).await })
            .with_context(|| format!("create security group {name}"))?;
        resp.into_inner()
            .group
            .ok_or_else(|| anyhow!("no group in the response"))
    }

    /// Reads a security group.
    pub fn get_group(&mut self, id: &str) -> Result<pb::SecurityGroup, tonic::Status> {
        let id = id.to_owned();
        let resp =
            self.call(|mut c| async move { c.get_security_group(pb::GetRequest { id }).await })?;
        resp.into_inner()
            .group
            .ok_or_else(|| tonic::Status::internal("no group in the response"))
    }

    /// Adds rules to a group at `revision`, waiting as asked.
    pub fn add_rules(
        &mut self,
        group_id: &str,
        revision: i64,
        rules: Vec<pb::SecurityRule>,
        wait: Option<pb::Wait>,
    ) -> Result<pb::SecurityGroup, tonic::Status> {
        let req = pb::AddSecurityRulesRequest {
            group_id: group_id.into(),
            revision,
            rules,
            wait,
        };
        let resp = self.call(|mut c| async move { c.add_security_rules(req).await })?;
        resp.into_inner()
            .group
            .ok_or_else(|| tonic::Status::internal("no group in the response"))
    }

    /// Creates the port of `instance` (named after it, its MAC from the lab) on `node_id` in
    /// `network_id` with address `ipv4` and the groups given.
    pub fn create_port(
        &mut self,
        lab: &Lab,
        instance: &str,
        node_id: &str,
        network_id: &str,
        ipv4: &str,
        groups: &[String],
    ) -> Result<pb::Port> {
        let req = pb::CreatePortRequest {
            port: Some(pb::Port {
                meta: meta(instance),
                instance_id: instance.into(),
                node_id: node_id.into(),
                network_id: network_id.into(),
                mac: lab.instance(instance).mac.to_string(),
                ipv4: ipv4.into(),
                security_group_ids: groups.to_vec(),
                ..Default::default()
            }),
            wait: None,
        };
        let resp = self
            .call(|mut c| async move { c.create_port(req).await })
            .with_context(|| format!("create the port of {instance}"))?;
        resp.into_inner()
            .port
            .ok_or_else(|| anyhow!("no port in the response"))
    }

    /// The convergence receipt of an object.
    pub fn receipt(&mut self, id: &str) -> Result<pb::ConvergenceReceipt, tonic::Status> {
        let id = id.to_owned();
        self.call(|mut c| async move { c.get_convergence(pb::GetConvergenceRequest { id }).await })
            .map(tonic::Response::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_parse_labels_and_values() {
        let text = "HTTP/1.1 200 OK\r\n\r\n# HELP x\n\
            sdn_agent_port_packets_total{direction=\"ingress\",port=\"p-1\",verdict=\"rule\"} 12\n\
            sdn_agent_conntrack_entries 3\n";
        let s = samples(text);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "sdn_agent_port_packets_total");
        assert_eq!(s[0].label("port"), "p-1");
        assert_eq!(s[0].label("verdict"), "rule");
        assert_eq!(s[0].value, 12.0);
        assert_eq!(s[1].name, "sdn_agent_conntrack_entries");
        assert!(s[1].labels.is_empty());
        assert_eq!(metric(text, "sdn_agent_conntrack_entries"), Some(3.0));
    }
}
