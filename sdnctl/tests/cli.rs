//! The real `sdnctl` binary as a subprocess against an in-process controller (the controller's
//! `ApiService` and sync service over its in-memory store, plaintext on a free loopback port), with
//! one in-process agent that applies and acknowledges everything (node hv-1) and one registered node
//! without agent (hv-2), so receipts show both an applied node and a laggard.

use std::collections::BTreeSet;
use std::time::Duration;

use sdn_controller::api::ApiService;
use sdn_controller::metrics::Metrics;
use sdn_controller::registry::Registry;
use sdn_controller::store::memory::MemoryStore;
use sdn_controller::sync::{Hub, HubConfig, SyncService};
use sdn_proto::v1 as pb;
use sdn_proto::v1::agent_sync_client::AgentSyncClient;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};

const HV1: &str = "00000000-0000-0000-0000-0000000000a1";
const UNKNOWN: &str = "00000000-0000-0000-0000-00000000dead";

/// Serves the controller on a free loopback port; returns its address (`127.0.0.1:port`).
async fn controller() -> String {
    let metrics = Metrics::new();
    let hub = Hub::start(
        Registry::new(MemoryStore::new()),
        HubConfig::default(),
        metrics.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let api = ApiService::with_sync(hub.clone(), metrics, false);
    let sync = SyncService::new(hub, false);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(api.into_server())
            .add_service(sync.into_server())
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    addr
}

/// An agent for `HV1` that acknowledges every snapshot and delta as soon as it arrives.
async fn agent(addr: &str) {
    let mut client = AgentSyncClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let (tx, out) = mpsc::channel(16);
    tx.send(pb::AgentMessage {
        message: Some(pb::agent_message::Message::Hello(pb::Hello {
            node_id: HV1.into(),
            node_name: "hv-1".into(),
            agent_version: "test".into(),
            underlay_ip: "198.18.0.1".into(),
            roles: vec![pb::NodeRole::Compute as i32],
            ..Default::default()
        })),
    })
    .await
    .unwrap();
    let mut rx = client
        .sync(ReceiverStream::new(out))
        .await
        .unwrap()
        .into_inner();
    tokio::spawn(async move {
        while let Ok(Some(msg)) = rx.message().await {
            let revision = match msg.message {
                Some(pb::controller_message::Message::Snapshot(s)) => s.revision,
                Some(pb::controller_message::Message::Delta(d)) => d.revision,
                None => continue,
            };
            let ack = pb::AgentMessage {
                message: Some(pb::agent_message::Message::Ack(pb::Ack {
                    revision,
                    ..Default::default()
                })),
            };
            if tx.send(ack).await.is_err() {
                break;
            }
        }
    });
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }

    fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "stderr: {}\nstdout: {}",
            self.stderr, self.stdout
        );
        self
    }

    fn fails(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "stderr: {}\nstdout: {}",
            self.stderr, self.stdout
        );
        assert_eq!(
            self.stderr.lines().count(),
            1,
            "one line on stderr: {:?}",
            self.stderr
        );
        assert!(self.stderr.starts_with("sdnctl: "), "{}", self.stderr);
        eprint!("exit {}: {}", self.code, self.stderr);
        self
    }
}

/// Runs `sdnctl --insecure --controller addr ARGS...` as a subprocess.
async fn sdnctl(addr: &str, args: &[&str]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_sdnctl"))
        .args(["--insecure", "--controller", addr])
        .args(args)
        .env_remove("SDNCTL_CONTROLLER")
        .env_remove("SDNCTL_OUTPUT")
        .output()
        .await
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

/// The top-level keys of a golden file: real output must have exactly these.
fn golden_keys(name: &str) -> BTreeSet<String> {
    let path = format!("{}/tests/golden/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    keys(&v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_status_and_errors_through_the_binary() {
    let addr = controller().await;
    agent(&addr).await;
    let a = addr.as_str();

    // Nodes: hv-1 registered by its agent, hv-2 by us (no agent: it will lag).
    let hv2 = sdnctl(
        a,
        &[
            "nodes",
            "create",
            "--name",
            "hv-2",
            "--underlay-ip",
            "198.18.0.2",
            "--role",
            "compute",
            "-o",
            "json",
        ],
    )
    .await
    .ok()
    .json();
    assert_eq!(keys(&hv2), golden_keys("node"));
    assert_eq!(hv2["state"], "pending");
    let hv2 = id(&hv2);
    let nodes = sdnctl(a, &["nodes", "list"]).await.ok();
    assert!(nodes.stdout.starts_with("ID "), "{}", nodes.stdout);
    assert!(nodes.stdout.contains("hv-2") && nodes.stdout.contains(HV1));

    // A network, in json and in table form.
    let net = sdnctl(
        a,
        &[
            "networks",
            "create",
            "--name",
            "web",
            "--ipv4-cidr",
            "198.18.64.0/26",
            "--end-ipv4",
            "198.18.64.50",
            "-o",
            "json",
        ],
    )
    .await
    .ok()
    .json();
    assert_eq!(keys(&net), golden_keys("network"));
    assert_eq!(net["mode"], "managed");
    assert!(net["vni"].as_u64().unwrap() > 0, "VNI allocated");
    let net = id(&net);
    let list = sdnctl(a, &["networks", "list"]).await.ok();
    let header = list.stdout.lines().next().unwrap();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["ID", "NAME", "STATE", "IPV4", "IPV6", "VNI", "MODE", "REV"]
    );
    assert!(list.stdout.contains(&net) && list.stdout.contains("198.18.64.0/26"));
    let list = sdnctl(a, &["networks", "list", "-o", "json"])
        .await
        .ok()
        .json();
    assert_eq!(keys(&list), golden_keys("network_list"));
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let yaml = sdnctl(a, &["networks", "get", &net, "-o", "yaml"])
        .await
        .ok();
    assert!(
        yaml.stdout.contains("ipv4_cidr: 198.18.64.0/26"),
        "{}",
        yaml.stdout
    );

    // A group with rules, then one more rule.
    let group = sdnctl(
        a,
        &[
            "groups",
            "create",
            "--name",
            "web",
            "--rule",
            "ingress tcp 80 from 0.0.0.0/0",
            "--rule",
            "ingress icmp type 8",
            "-o",
            "json",
        ],
    )
    .await
    .ok()
    .json();
    assert_eq!(keys(&group), golden_keys("group"));
    let gid = id(&group);
    let group = sdnctl(
        a,
        &[
            "sg",
            "add-rule",
            &gid,
            "ingress tcp 22 from 198.51.100.0/24 desc bastion",
            "-o",
            "json",
        ],
    )
    .await
    .ok()
    .json();
    let specs: Vec<&str> = group["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["spec"].as_str().unwrap())
        .collect();
    assert_eq!(
        specs,
        [
            "ingress tcp 80 from 0.0.0.0/0",
            "ingress icmp type 8",
            "ingress tcp 22 from 198.51.100.0/24"
        ]
    );
    let ssh_rule = group["rules"][2]["id"].as_str().unwrap().to_string();
    let shown = sdnctl(a, &["groups", "get", &gid]).await.ok();
    assert!(shown.stdout.contains("RULE ID"), "{}", shown.stdout);
    assert!(shown.stdout.contains("198.51.100.0/24") && shown.stdout.contains("bastion"));

    // A port on hv-1 (whose agent acks), waiting for convergence.
    let port = sdnctl(
        a,
        &[
            "ports",
            "create",
            "--name",
            "vm1-eth0",
            "--instance",
            "vm-1",
            "--node",
            HV1,
            "--network",
            &net,
            "--group",
            &gid,
            "--wait",
            "10s",
            "-o",
            "json",
        ],
    )
    .await
    .ok()
    .json();
    assert_eq!(keys(&port), golden_keys("port"));
    assert_eq!(port["ipv4"], "198.18.64.1", "first address of the range");
    let pid = id(&port);
    let status = sdnctl(a, &["status", "port", &pid]).await.ok();
    assert!(
        status.stdout.contains("converged on all 1 nodes"),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains("hv-1") && status.stdout.contains("applied"));
    let receipt = sdnctl(a, &["status", "port", &pid, "-o", "json"])
        .await
        .ok()
        .json();
    assert_eq!(keys(&receipt), golden_keys("receipt"));
    assert_eq!(receipt["converged"], true);
    assert!(receipt["applied"][0]["apply_latency_ms"].is_number());

    // A port on hv-2 (no agent): the wait times out naming it, status exits 12 naming it.
    let timed_out = sdnctl(
        a,
        &[
            "ports",
            "create",
            "--name",
            "vm2-eth0",
            "--instance",
            "vm-2",
            "--node",
            &hv2,
            "--network",
            &net,
            "--wait",
            "500ms",
        ],
    )
    .await
    .fails(11);
    assert!(timed_out.stderr.contains(&hv2), "{}", timed_out.stderr);
    let ports = sdnctl(a, &["ports", "list", "--network", &net, "-o", "json"])
        .await
        .ok()
        .json();
    let lagging_port = ports["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "vm2-eth0")
        .map(id)
        .expect("the port was committed");
    let lag = sdnctl(a, &["status", "port", &lagging_port])
        .await
        .fails(12);
    assert!(lag.stdout.contains("NOT converged"), "{}", lag.stdout);
    assert!(
        lag.stderr.contains(&format!("hv-2 ({hv2})")),
        "{}",
        lag.stderr
    );
    let lag = sdnctl(a, &["status", "network", &net, "-o", "json"]).await;
    assert_eq!(lag.code, 12);
    assert_eq!(lag.json()["lagging"][0]["node_name"], "hv-2");
    let table = sdnctl(a, &["ports", "list", "--node", HV1]).await.ok();
    assert!(table.stdout.contains("vm1-eth0") && !table.stdout.contains("vm2-eth0"));

    // Errors: one line each, with their exit codes.
    let e = sdnctl(a, &["networks", "get", UNKNOWN]).await.fails(4);
    assert!(e.stderr.contains("not found"), "{}", e.stderr);
    let e = sdnctl(
        a,
        &[
            "ports",
            "create",
            "--name",
            "bad",
            "--instance",
            "vm-3",
            "--node",
            HV1,
            "--network",
            &net,
            "--ipv4",
            "10.9.9.9",
        ],
    )
    .await
    .fails(6);
    assert!(e.stderr.contains("[field port.ipv4]"), "{}", e.stderr);
    let e = sdnctl(
        a,
        &["networks", "create", "--name", "x", "--ipv4-cidr", "nope"],
    )
    .await
    .fails(6);
    assert!(
        e.stderr.contains("[field network.ipv4_cidr]"),
        "{}",
        e.stderr
    );
    let e = sdnctl(
        a,
        &["groups", "update", &gid, "--revision", "1", "--name", "w"],
    )
    .await
    .fails(7);
    assert!(e.stderr.contains("retry"), "{}", e.stderr);
    sdnctl(a, &["groups", "delete", &gid]).await.fails(9);
    sdnctl(a, &["status", "group", UNKNOWN]).await.fails(4);
    sdnctl(a, &["flows", "--node", HV1]).await.fails(14);
    sdnctl(
        a,
        &[
            "trace",
            "--node",
            HV1,
            "--port",
            &pid,
            "tcp 1.2.3.4:1 -> 5.6.7.8:80",
        ],
    )
    .await
    .fails(14);
    let e = sdnctl("127.0.0.1:1", &["nodes", "list"]).await.fails(3);
    assert!(e.stderr.contains("unreachable"), "{}", e.stderr);

    // Remove a rule revoking its flows.
    let group = sdnctl(
        a,
        &[
            "groups",
            "remove-rule",
            &gid,
            &ssh_rule,
            "--existing-flows",
            "revoke",
            "-o",
            "json",
        ],
    )
    .await
    .ok()
    .json();
    assert_eq!(group["rules"].as_array().unwrap().len(), 2);
    assert_eq!(group["revoked_rule_ids"][0], ssh_rule.as_str());

    // A load balancer over the port: services, backends, health; drain; delete.
    let backend = format!("web={pid}");
    let lb = sdnctl(
        a,
        &[
            "lbs",
            "create",
            "--name",
            "www",
            "--vip",
            "203.0.113.10",
            "--service",
            "web tcp 80 to 8080",
            "--backend",
            &backend,
            "--health-check",
            "web http path /healthz",
            "-o",
            "json",
        ],
    )
    .await
    .ok()
    .json();
    assert_eq!(keys(&lb), golden_keys("lb"));
    let lid = id(&lb);
    assert_eq!(lb["services"][0]["spec"], "web tcp 80 to 8080 maglev");
    assert_eq!(lb["services"][0]["backends"][0]["weight"], 100);
    assert_eq!(lb["services"][0]["health_check"]["http_path"], "/healthz");
    let shown = sdnctl(a, &["lbs", "get", &lid]).await.ok();
    assert!(shown.stdout.contains("BACKEND PORT"), "{}", shown.stdout);
    assert!(shown.stdout.contains(&pid) && shown.stdout.contains("unknown"));
    let drain = format!("web={pid}:0");
    let lb = sdnctl(
        a,
        &["lbs", "update", &lid, "--backend", &drain, "-o", "json"],
    )
    .await
    .ok()
    .json();
    assert_eq!(lb["services"][0]["backends"][0]["weight"], 0);
    let list = sdnctl(a, &["lbs", "list"]).await.ok();
    assert!(list.stdout.contains("web/tcp:80") && list.stdout.contains("0/1 healthy"));
    let e = sdnctl(a, &["ports", "delete", &pid]).await.fails(9);
    assert!(
        e.stderr.contains(&lid),
        "the message names the lb: {}",
        e.stderr
    );
    let e = sdnctl(a, &["lbs", "update", &lid, "--backend", "api=x"])
        .await
        .fails(2);
    assert!(e.stderr.contains("no service `api`"), "{}", e.stderr);
    sdnctl(a, &["lbs", "delete", &lid]).await.ok();

    // Delete everything; a port leaves once its node acknowledged, so the network may refuse
    // briefly (exit 9) until then.
    for p in [&pid, &lagging_port] {
        let d = sdnctl(a, &["ports", "delete", p, "-o", "json"])
            .await
            .ok()
            .json();
        assert_eq!(keys(&d), golden_keys("deleted"));
    }
    let mut tries = 0;
    loop {
        let d = sdnctl(a, &["networks", "delete", &net]).await;
        if d.code == 0 {
            assert!(d.stdout.starts_with("deleted network"), "{}", d.stdout);
            break;
        }
        tries += 1;
        assert!(d.code == 9 && tries < 50, "{}", d.stderr);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sdnctl(a, &["groups", "delete", &gid]).await.ok();
    sdnctl(a, &["networks", "get", &net]).await.fails(4);
    let empty = sdnctl(a, &["groups", "list"]).await.ok();
    assert_eq!(empty.stdout, "no groups\n");
}
