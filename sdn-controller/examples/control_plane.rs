//! The control-plane benchmark behind `cargo xtask bench control-plane` (issue 3, acceptance).
//!
//! For N = 10, 100, 1000 simulated agents: a throwaway etcd, the real `sdn-controller` binary (path in
//! argv[1]) as a child process, and N agents in this process speaking the real sync protocol over
//! loopback, applying every message to an in-memory record and acking it at once. Every node hosts one
//! port in a group all of them use, on a network it shares with nine other nodes; nodes 1 and 2 also
//! share a network of their own. Measured from the API call
//! to the response of a `wait` (which returns when every concerned node acked):
//! - `group`: a rule added to the group every agent uses;
//! - `port`: a port of node 1 whose network node 2 also hosts, changing its groups (two agents).
//!
//! Figures per N and kind: `p50_ms`, `p99_ms`, `etcd_writes_per_change` (store revisions per change,
//! after convergence), and `controller_rss_mb` per N. Output: `target/bench/control-plane.json`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sdn_controller::etcd_server::EtcdServer;
use sdn_proto::v1 as pb;
use sdn_proto::v1::agent_sync_client::AgentSyncClient;
use sdn_proto::v1::controller_client::ControllerClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

const COUNTS: [usize; 3] = [10, 100, 1000];
const REPEATS: usize = 30;

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Controller(Child);

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn node_id(i: usize) -> String {
    format!("00000000-0000-0000-0000-{:012x}", i + 1)
}

/// An agent that applies (records) and acks every message.
async fn agent(url: String, i: usize) {
    let channel = Endpoint::from_shared(url)
        .unwrap()
        .connect()
        .await
        .expect("agent connects");
    let (tx, rx) = mpsc::channel(64);
    tx.send(pb::AgentMessage {
        message: Some(pb::agent_message::Message::Hello(pb::Hello {
            node_id: node_id(i),
            node_name: format!("hv-{i}"),
            underlay_ip: format!("198.18.{}.{}", i / 250, i % 250 + 1),
            roles: vec![pb::NodeRole::Compute as i32],
            agent_version: "bench".into(),
            ..Default::default()
        })),
    })
    .await
    .unwrap();
    let mut down = AgentSyncClient::new(channel)
        .sync(ReceiverStream::new(rx))
        .await
        .expect("sync opens")
        .into_inner();
    let mut recorded: BTreeMap<String, usize> = BTreeMap::new();
    while let Ok(Some(msg)) = down.message().await {
        let revision = match msg.message {
            Some(pb::controller_message::Message::Snapshot(s)) => {
                recorded.insert("snapshot".into(), s.objects.len());
                s.revision
            }
            Some(pb::controller_message::Message::Delta(d)) => {
                *recorded.entry("upserts".into()).or_default() += d.upserts.len();
                d.revision
            }
            None => continue,
        };
        let ack = pb::AgentMessage {
            message: Some(pb::agent_message::Message::Ack(pb::Ack {
                revision,
                ..Default::default()
            })),
        };
        if tx.send(ack).await.is_err() {
            return;
        }
    }
}

fn wait(secs: u64) -> Option<pb::Wait> {
    Some(pb::Wait {
        timeout: Some(Duration::from_secs(secs).try_into().unwrap()),
    })
}

fn meta(name: &str) -> Option<pb::ObjectMeta> {
    Some(pb::ObjectMeta {
        name: name.into(),
        ..Default::default()
    })
}

fn tcp(port: u32) -> pb::SecurityRule {
    pb::SecurityRule {
        direction: pb::Direction::Ingress as i32,
        protocol: Some(pb::security_rule::Protocol::ProtocolName(
            pb::ProtocolName::Tcp as i32,
        )),
        port_from: port,
        ..Default::default()
    }
}

async fn network(api: &mut ControllerClient<Channel>, name: &str, cidr: &str) -> String {
    api.create_network(pb::CreateNetworkRequest {
        network: Some(pb::PrivateNetwork {
            meta: meta(name),
            ipv4_cidr: cidr.into(),
            ..Default::default()
        }),
    })
    .await
    .unwrap()
    .into_inner()
    .network
    .unwrap()
    .meta
    .unwrap()
    .id
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn revision(api: &mut ControllerClient<Channel>) -> i64 {
    api.list_nodes(pb::ListRequest {
        page_size: 1,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .revision
}

async fn run_n(bin: &str, n: usize) -> serde_json::Value {
    let etcd = EtcdServer::start();
    let port = free_port();
    let child = Command::new(bin)
        .args(["--etcd-endpoints", etcd.endpoint(), "--insecure"])
        .arg(format!("--listen=127.0.0.1:{port}"))
        .arg(format!("--metrics-listen=127.0.0.1:{}", free_port()))
        .arg("--queue-capacity=256")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run sdn-controller");
    let controller = Controller(child);
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        std::thread::sleep(Duration::from_millis(10));
    }
    let url = format!("http://127.0.0.1:{port}");
    let mut api = ControllerClient::connect(url.clone()).await.unwrap();
    // Nodes are spread over networks of ten nodes each (a zone of many small private networks).
    let mut networks = Vec::new();
    for k in 0..n.div_ceil(10) {
        let cidr = format!("198.18.{}.0/24", 100 + k % 150);
        let cidr = if k < 150 {
            cidr
        } else {
            format!("198.19.{}.0/24", k - 150 + 1)
        };
        networks.push(network(&mut api, &format!("net-{k}"), &cidr).await);
    }
    let pair = network(&mut api, "pair", "198.19.200.0/24").await;
    let group = api
        .create_security_group(pb::CreateSecurityGroupRequest {
            group: Some(pb::SecurityGroup {
                meta: meta("all"),
                rules: vec![tcp(22)],
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .group
        .unwrap();
    let group_id = group.meta.as_ref().unwrap().id.clone();
    let mut agents = Vec::new();
    for i in 0..n {
        agents.push(tokio::spawn(agent(url.clone(), i)));
    }
    // Every node registered and holds one port of the shared network in the group.
    for i in 0..n {
        let port = pb::Port {
            meta: meta("p"),
            instance_id: format!("vm-{i}"),
            node_id: node_id(i),
            network_id: networks[i / 10].clone(),
            security_group_ids: vec![group_id.clone()],
            ..Default::default()
        };
        let mut tries = 0;
        loop {
            match api
                .create_port(pb::CreatePortRequest {
                    port: Some(port.clone()),
                    wait: None,
                })
                .await
            {
                Ok(_) => break,
                Err(e) if e.code() == tonic::Code::NotFound && tries < 500 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("create port on node {i}: {e}"),
            }
        }
    }
    let mut pair_port = None;
    for i in [0, 1] {
        let p = api
            .create_port(pb::CreatePortRequest {
                port: Some(pb::Port {
                    meta: meta("pair"),
                    instance_id: format!("pair-{i}"),
                    node_id: node_id(i),
                    network_id: pair.clone(),
                    ..Default::default()
                }),
                wait: wait(60),
            })
            .await
            .expect("pair port converges")
            .into_inner()
            .port
            .unwrap();
        pair_port.get_or_insert(p);
    }
    let mut pair_port = pair_port.unwrap();

    let mut group_ms = Vec::new();
    let mut group_writes = Vec::new();
    let mut g = group;
    for r in 0..REPEATS {
        let before = revision(&mut api).await;
        g.rules.push(tcp(1000 + r as u32));
        let started = Instant::now();
        let resp = api
            .update_security_group(pb::UpdateSecurityGroupRequest {
                group: Some(g.clone()),
                wait: wait(60),
                ..Default::default()
            })
            .await
            .expect("group change converges")
            .into_inner();
        group_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(resp.receipt.as_ref().unwrap().applied.len(), n);
        g = resp.group.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        group_writes.push(revision(&mut api).await - before);
    }

    let mut port_ms = Vec::new();
    let mut port_writes = Vec::new();
    for r in 0..REPEATS {
        let id = pair_port.meta.as_ref().unwrap().id.clone();
        pair_port = api
            .get_port(pb::GetRequest { id })
            .await
            .unwrap()
            .into_inner()
            .port
            .unwrap();
        let before = revision(&mut api).await;
        let groups = if r % 2 == 0 {
            vec![group_id.clone()]
        } else {
            vec![]
        };
        let started = Instant::now();
        let resp = api
            .update_port(pb::UpdatePortRequest {
                id: pair_port.meta.as_ref().unwrap().id.clone(),
                revision: pair_port.meta.as_ref().unwrap().revision,
                security_group_ids: groups,
                wait: wait(60),
                ..Default::default()
            })
            .await
            .expect("port change converges")
            .into_inner();
        port_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        // Let the port become programmed (its second write), then read it back.
        tokio::time::sleep(Duration::from_millis(100)).await;
        port_writes.push(revision(&mut api).await - before);
        pair_port = resp.port.unwrap();
    }
    let rss = rss_mb(controller.0.id());
    for a in agents {
        a.abort();
    }
    drop(controller);
    let summary = |mut ms: Vec<f64>, writes: Vec<i64>| {
        ms.sort_by(f64::total_cmp);
        let mut w = writes.clone();
        w.sort();
        serde_json::json!({
            "p50_ms": percentile(&ms, 0.5),
            "p99_ms": percentile(&ms, 0.99),
            "etcd_writes_per_change": w[w.len() / 2],
            "samples_ms": ms,
        })
    };
    serde_json::json!({
        "agents": n,
        "group": summary(group_ms, group_writes),
        "port": summary(port_ms, port_writes),
        "controller_rss_mb": rss,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let bin = std::env::args()
        .nth(1)
        .expect("usage: control_plane <path of the sdn-controller binary> [out.json]");
    let out = std::env::args()
        .nth(2)
        .unwrap_or_else(|| "target/bench/control-plane.json".into());
    let mut runs = Vec::new();
    println!(
        "{:>6} {:>7} {:>10} {:>10} {:>8} {:>8}",
        "agents", "change", "p50_ms", "p99_ms", "writes", "rss_mb"
    );
    for n in COUNTS {
        let r = run_n(&bin, n).await;
        for kind in ["group", "port"] {
            println!(
                "{:>6} {:>7} {:>10.2} {:>10.2} {:>8} {:>8.1}",
                n,
                kind,
                r[kind]["p50_ms"].as_f64().unwrap(),
                r[kind]["p99_ms"].as_f64().unwrap(),
                r[kind]["etcd_writes_per_change"],
                r["controller_rss_mb"].as_f64().unwrap()
            );
        }
        runs.push(r);
    }
    let p99 = |i: usize| runs[i]["group"]["p99_ms"].as_f64().unwrap();
    let report = serde_json::json!({
        "suite": "control-plane",
        "repeats": REPEATS,
        "runs": runs,
        "p99_ms_1000": p99(2),
        "p99_ratio_1000_over_10": p99(2) / p99(0),
        "controller_rss_mb": runs[2]["controller_rss_mb"],
        "targets": {"p99_ms_1000_max": 300, "p99_ratio_max": 3},
    });
    if let Some(dir) = std::path::Path::new(&out).parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    println!("wrote {out}");
}
