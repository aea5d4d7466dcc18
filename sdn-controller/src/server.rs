//! One controller replica: connects to etcd, starts the sync engine, and serves the API, the agent
//! sync stream, gRPC reflection and the standard health service on one listener (mutual TLS unless
//! `insecure`), and Prometheus metrics on `/metrics` on another.

use std::future::Future;

use anyhow::Context as _;
use sdn_proto::v1 as pb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use crate::api::ApiService;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::store::etcd::EtcdStore;
use crate::sync::{Hub, HubConfig, SyncService};

fn read(path: &Option<std::path::PathBuf>, what: &str) -> anyhow::Result<Vec<u8>> {
    let path = path.as_ref().context(format!("{what} is not set"))?;
    std::fs::read(path).with_context(|| format!("read {what} {}", path.display()))
}

/// Runs the replica until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
    let store = EtcdStore::connect(&config.etcd_endpoints).await?;
    let metrics = Metrics::new();
    let hub = Hub::start(
        Registry::new(store),
        HubConfig {
            queue_capacity: config.queue_capacity,
            ..HubConfig::default()
        },
        metrics.clone(),
    );
    let authenticate = !config.insecure;
    let api = ApiService::with_sync(hub.clone(), metrics.clone(), authenticate);
    let sync = SyncService::new(hub, authenticate);

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<pb::controller_server::ControllerServer<ApiService<EtcdStore>>>()
        .await;
    health
        .set_serving::<pb::agent_sync_server::AgentSyncServer<SyncService<EtcdStore>>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("build the reflection service")?;

    let mut builder = Server::builder();
    if authenticate {
        let tls = ServerTlsConfig::new()
            .identity(Identity::from_pem(
                read(&config.tls_cert, "--tls-cert")?,
                read(&config.tls_key, "--tls-key")?,
            ))
            .client_ca_root(Certificate::from_pem(read(
                &config.tls_client_ca,
                "--tls-client-ca",
            )?));
        builder = builder
            .tls_config(tls)
            .context("configure TLS from --tls-cert/--tls-key/--tls-client-ca")?;
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listen on {}", config.listen))?;
    let metrics_listener = tokio::net::TcpListener::bind(config.metrics_listen)
        .await
        .with_context(|| format!("listen on {} for metrics", config.metrics_listen))?;
    tokio::spawn(serve_metrics(metrics_listener, metrics));
    tracing::info!(
        listen = %config.listen,
        metrics = %config.metrics_listen,
        etcd = %config.etcd_endpoints.join(","),
        tls = authenticate,
        "controller serving"
    );
    builder
        .add_service(health_service)
        .add_service(reflection)
        .add_service(api.into_server())
        .add_service(sync.into_server())
        // Small request/response messages: without TCP_NODELAY a reply can wait out the peer's
        // delayed ACK (tens of ms per round trip).
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await
        .context("serve gRPC")
}

/// A minimal HTTP/1.1 responder: `GET /metrics` gets the text exposition, anything else 404.
async fn serve_metrics(listener: tokio::net::TcpListener, metrics: Metrics) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
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
                ("200 OK", metrics.render())
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
