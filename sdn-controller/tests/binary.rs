//! The `sdn-controller` binary against a throwaway etcd: flags and env, API, health, reflection and
//! metrics on their listeners; a one-line error when etcd is unreachable; and mutual TLS with
//! identities from client certificates minted here with rcgen.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
use sdn_controller::etcd_server::EtcdServer;
use sdn_proto::v1 as pb;
use sdn_proto::v1::agent_sync_client::AgentSyncClient;
use sdn_proto::v1::controller_client::ControllerClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The controller process; killed on drop.
struct Controller {
    child: Child,
    port: u16,
    metrics_port: u16,
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(etcd: &str, extra: &[&str]) -> Controller {
    let (port, metrics_port) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_sdn-controller"))
        .args(["--etcd-endpoints", etcd])
        .arg(format!("--listen=127.0.0.1:{port}"))
        .args(extra)
        .env(
            "SDN_CONTROLLER_METRICS_LISTEN",
            format!("127.0.0.1:{metrics_port}"),
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run sdn-controller");
    let c = Controller {
        child,
        port,
        metrics_port,
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        assert!(Instant::now() < deadline, "controller did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    c
}

fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[tokio::test]
async fn serves_api_health_reflection_and_metrics() {
    let etcd = EtcdServer::start();
    let c = start(etcd.endpoint(), &["--insecure"]);
    let url = format!("http://127.0.0.1:{}", c.port);
    let mut api = ControllerClient::connect(url.clone()).await.unwrap();
    let nodes = api
        .list_nodes(pb::ListRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(nodes.revision > 0);

    let channel = Endpoint::from_shared(url).unwrap().connect().await.unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "sdn.v1.Controller".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        status.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(channel);
    let req = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut resp = reflection
        .server_reflection_info(tokio_stream::iter([req]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        resp.message().await.unwrap().unwrap().message_response
    else {
        panic!("list services answered");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for want in [
        "sdn.v1.Controller",
        "sdn.v1.AgentSync",
        "grpc.health.v1.Health",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }

    let metrics = http_get(c.metrics_port, "/metrics");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(
        metrics.contains(r#"sdn_api_requests_total{code="Ok",method="ListNodes"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("sdn_agents_connected 0"));
}

#[test]
fn unreachable_etcd_is_one_clear_line() {
    let out = Command::new(env!("CARGO_BIN_EXE_sdn-controller"))
        .args(["--etcd-endpoints", "http://127.0.0.1:1", "--insecure"])
        .arg(format!("--listen=127.0.0.1:{}", free_port()))
        .arg(format!("--metrics-listen=127.0.0.1:{}", free_port()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("sdn-controller: etcd unreachable at http://127.0.0.1:1"),
        "{err}"
    );
    assert!(lines[0].contains("--etcd-endpoints"), "{err}");
}

#[test]
fn tls_is_required_unless_insecure() {
    let out = Command::new(env!("CARGO_BIN_EXE_sdn-controller"))
        .args(["--etcd-endpoints", "http://127.0.0.1:1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--insecure"));
}

/// A throwaway CA and the certificates of one test.
struct Pki {
    ca_pem: String,
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Pki {
            ca_pem: issuer.pem(),
            issuer,
        }
    }

    /// (cert PEM, key PEM) for DNS names and an optional identity URI.
    fn leaf(&self, dns: &[&str], uri: Option<&str>) -> (String, String) {
        let mut params =
            CertificateParams::new(dns.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        if let Some(uri) = uri {
            params
                .subject_alt_names
                .push(SanType::URI(uri.try_into().unwrap()));
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

async fn channel(
    port: u16,
    ca: &str,
    client: Option<&(String, String)>,
) -> Result<Channel, String> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    if let Some((cert, key)) = client {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    Endpoint::from_shared(format!("https://127.0.0.1:{port}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))
}

async fn open_sync(ch: Channel, node: &str) -> tonic::Status {
    let hello = pb::AgentMessage {
        message: Some(pb::agent_message::Message::Hello(pb::Hello {
            node_id: node.into(),
            underlay_ip: "198.18.0.1".into(),
            ..Default::default()
        })),
    };
    let mut client = AgentSyncClient::new(ch);
    // Keep the upward stream open (an agent that closes it ends its session).
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(hello).await.unwrap();
    let up = tokio_stream::wrappers::ReceiverStream::new(rx);
    let _keep = tx;
    match client.sync(up).await {
        Ok(resp) => match resp.into_inner().message().await {
            Ok(m) => tonic::Status::ok(format!("{m:?}")),
            Err(s) => s,
        },
        Err(s) => s,
    }
}

#[tokio::test]
async fn mutual_tls_identities() {
    let etcd = EtcdServer::start();
    let pki = Pki::new();
    let dir = std::env::temp_dir().join(format!("sdn-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (server_cert, server_key) = pki.leaf(&["localhost"], None);
    let ca = write(&dir, "ca.pem", &pki.ca_pem);
    let cert = write(&dir, "server.pem", &server_cert);
    let key = write(&dir, "server.key", &server_key);
    let c = start(
        etcd.endpoint(),
        &[
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--tls-client-ca",
            &ca,
        ],
    );
    let node_a = "00000000-0000-0000-0000-00000000000a";
    let node_b = "00000000-0000-0000-0000-00000000000b";
    let agent_a = pki.leaf(&[], Some(&format!("spiffe://sdn/node/{node_a}")));
    let operator = pki.leaf(&[], Some("spiffe://sdn/operator/oncall"));
    let orchestrator = pki.leaf(&[], Some("spiffe://sdn/orchestrator/compute"));

    // No client certificate: the handshake or the first call fails.
    let refused = match channel(c.port, &pki.ca_pem, None).await {
        Err(_) => true,
        Ok(ch) => ControllerClient::new(ch)
            .list_nodes(pb::ListRequest::default())
            .await
            .is_err(),
    };
    assert!(refused, "a client without a certificate is refused");

    // A certificate from another CA is refused too.
    let stranger = Pki::new().leaf(&[], Some("spiffe://sdn/orchestrator/evil"));
    let refused = match channel(c.port, &pki.ca_pem, Some(&stranger)).await {
        Err(_) => true,
        Ok(ch) => ControllerClient::new(ch)
            .list_nodes(pb::ListRequest::default())
            .await
            .is_err(),
    };
    assert!(refused, "a certificate of another CA is refused");

    // The operator reads but cannot write.
    let mut op =
        ControllerClient::new(channel(c.port, &pki.ca_pem, Some(&operator)).await.unwrap());
    op.list_nodes(pb::ListRequest::default()).await.unwrap();
    let err = op
        .create_security_group(pb::CreateSecurityGroupRequest {
            group: Some(pb::SecurityGroup {
                meta: Some(pb::ObjectMeta {
                    name: "g".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
    assert!(
        err.message().contains("orchestrator certificate"),
        "{}",
        err.message()
    );

    // The orchestrator writes.
    let mut orch = ControllerClient::new(
        channel(c.port, &pki.ca_pem, Some(&orchestrator))
            .await
            .unwrap(),
    );
    orch.create_security_group(pb::CreateSecurityGroupRequest {
        group: Some(pb::SecurityGroup {
            meta: Some(pb::ObjectMeta {
                name: "g".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
    })
    .await
    .unwrap();

    // Node A's agent syncs node A, not node B, and cannot call the API.
    let ch = channel(c.port, &pki.ca_pem, Some(&agent_a)).await.unwrap();
    let other = open_sync(ch.clone(), node_b).await;
    assert_eq!(other.code(), tonic::Code::PermissionDenied, "{other:?}");
    let own = open_sync(ch.clone(), node_a).await;
    assert_eq!(own.code(), tonic::Code::Ok, "{own:?}");
    assert!(own.message().contains("Snapshot"), "{own:?}");
    let err = ControllerClient::new(ch)
        .list_nodes(pb::ListRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    let _ = std::fs::remove_dir_all(&dir);
}
