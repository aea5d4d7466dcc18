//! Mutual TLS: the real `sdnctl` binary with `--ca/--cert/--key` against an in-process controller
//! that authenticates callers by their certificate's `spiffe://sdn/...` URI (certificates minted
//! here with rcgen): an orchestrator writes, an operator reads but may not write (exit 5), a wrong
//! CA fails the handshake (exit 5), and missing files are usage errors (exit 2).

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
use sdn_controller::api::ApiService;
use sdn_controller::metrics::Metrics;
use sdn_controller::registry::Registry;
use sdn_controller::store::memory::MemoryStore;
use sdn_controller::sync::{Hub, HubConfig};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

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

async fn sdnctl(args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_sdnctl"))
        .args(args)
        .env_remove("SDNCTL_CONTROLLER")
        .env_remove("SDNCTL_INSECURE")
        .env_remove("SDNCTL_CA")
        .env_remove("SDNCTL_CERT")
        .env_remove("SDNCTL_KEY")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    eprint!("exit {:?}: {stderr}", out.status.code());
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        stderr,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_identities_and_handshake_errors() {
    let dir = std::env::temp_dir().join(format!("sdnctl-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pki = Pki::new();
    let (server_cert, server_key) = pki.leaf(&["localhost"], None);
    let ca = write(&dir, "ca.pem", &pki.ca_pem);
    let (c, k) = pki.leaf(&[], Some("spiffe://sdn/orchestrator/nova"));
    let (orch_cert, orch_key) = (write(&dir, "orch.pem", &c), write(&dir, "orch.key", &k));
    let (c, k) = pki.leaf(&[], Some("spiffe://sdn/operator/alice"));
    let (op_cert, op_key) = (write(&dir, "op.pem", &c), write(&dir, "op.key", &k));
    let other = write(&dir, "other-ca.pem", &Pki::new().ca_pem);

    let metrics = Metrics::new();
    let hub = Hub::start(
        Registry::new(MemoryStore::new()),
        HubConfig::default(),
        metrics.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(server_cert, server_key))
        .client_ca_root(Certificate::from_pem(&pki.ca_pem));
    tokio::spawn(
        tonic::transport::Server::builder()
            .tls_config(tls)
            .unwrap()
            .add_service(ApiService::with_sync(hub, metrics, true).into_server())
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );

    let with = |cert: &str, key: &str, ca: &str| {
        vec![
            "--controller".to_string(),
            url.clone(),
            "--tls-server-name".into(),
            "localhost".into(),
            "--ca".into(),
            ca.to_string(),
            "--cert".into(),
            cert.to_string(),
            "--key".into(),
            key.to_string(),
        ]
    };
    let run = |base: Vec<String>, rest: &[&str]| {
        let mut args = base;
        args.extend(rest.iter().map(|s| s.to_string()));
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            sdnctl(&refs).await
        }
    };
    let create = [
        "networks",
        "create",
        "--name",
        "web",
        "--ipv4-cidr",
        "198.18.64.0/26",
    ];

    let (code, out, _) = run(with(&orch_cert, &orch_key, &ca), &create).await;
    assert_eq!(code, 0, "an orchestrator writes");
    assert!(out.contains("198.18.64.0/26"));
    let (code, out, _) = run(with(&op_cert, &op_key, &ca), &["networks", "list"]).await;
    assert_eq!(code, 0, "an operator reads");
    assert!(out.contains("web"));
    let (code, _, err) = run(with(&op_cert, &op_key, &ca), &create).await;
    assert_eq!(code, 5, "an operator may not write: {err}");
    assert!(err.contains("permission denied") && err.contains("operator alice"));
    assert_eq!(err.lines().count(), 1);
    let (code, _, err) = run(with(&op_cert, &op_key, &other), &["networks", "list"]).await;
    assert_eq!(
        code, 5,
        "a CA that did not sign the server fails the handshake: {err}"
    );
    assert!(err.contains("--ca"), "{err}");
    let (code, _, err) = run(
        with(
            &op_cert,
            &op_key,
            &dir.join("missing.pem").display().to_string(),
        ),
        &["networks", "list"],
    )
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot read --ca"), "{err}");
    let (code, _, err) = sdnctl(&["--controller", &url, "--ca", &ca, "networks", "list"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--cert and --key"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
