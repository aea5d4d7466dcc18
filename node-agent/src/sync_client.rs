//! The agent's end of `sdn.v1.AgentSync.Sync`: hello, snapshots and deltas into the
//! [`DesiredStore`], the kernel brought to them by an [`Applier`], then the ack.
//!
//! - **Hello**: node id, name, underlay address, roles, version, capabilities, and the revision
//!   the store holds (0 on a fresh start: the controller answers with a snapshot; after a lost
//!   stream, the last revision applied: it answers with a delta from there, or a snapshot).
//! - **Apply, then ack**: each message goes into the store (a delta that does not start at the
//!   store's revision ends the session; the next hello asks again from the store's revision),
//!   messages already waiting on the stream are folded in, the [`Applier`] programs the kernel,
//!   and only then the revision is acked, with the objects that failed
//!   ([`pb::Ack::errors`]). A `NodeStatus` follows each ack (`ok`, or `degraded` naming the
//!   failures).
//! - **Fail-static**: when the stream or the connection fails, nothing is undone. The kernel
//!   keeps enforcing the last state; the client retries with exponential backoff (doubling from
//!   [`Backoff::initial`] up to [`Backoff::max`], reset once a stream delivers a message) and
//!   resumes from the store's revision. HTTP/2 keepalives find a silent controller within about
//!   ten seconds.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use futures_util::FutureExt;
use sdn_proto::v1 as pb;
use sdn_proto::v1::agent_sync_client::AgentSyncClient;
use sdn_proto::v1::controller_message::Message as Down;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::agent_metrics::{AgentMetrics, SyncState};
use crate::desired::{Applied, DesiredStore, StoreError};

/// Client certificate files for mutual TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA that signed the controller's certificate (PEM).
    pub ca: PathBuf,
    /// This node's certificate (PEM), naming `spiffe://sdn/node/<node-id>`.
    pub cert: PathBuf,
    /// Its key (PEM).
    pub key: PathBuf,
    /// The name to check the controller's certificate against; default: the URL's host.
    pub server_name: Option<String>,
}

/// Reconnection delays: doubling from `initial` up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// First delay.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
    current: Duration,
}

impl Backoff {
    /// Starts at `initial`, capped at `max`.
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max,
            current: initial,
        }
    }

    /// The next delay.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.current;
        self.current = (self.current * 2).min(self.max);
        d
    }

    /// Back to `initial` (a stream worked).
    pub fn reset(&mut self) {
        self.current = self.initial;
    }
}

/// How to reach the controller and who this node is.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// `http://host:port` (with `--insecure`) or `https://host:port`.
    pub controller: String,
    /// Mutual TLS; `None` is plaintext.
    pub tls: Option<TlsFiles>,
    /// The hello to send (its `last_applied_revision` is filled in on each connection).
    pub hello: pb::Hello,
    /// Reconnection delays.
    pub backoff: Backoff,
}

/// Brings the kernel to the store's state.
pub trait Applier: Send {
    /// Programs the kernel for `store` (`applied` says what the last messages changed) and
    /// returns the objects that failed.
    fn apply(
        &mut self,
        store: &DesiredStore,
        applied: &Applied,
    ) -> impl Future<Output = Vec<pb::ApplyError>> + Send;
}

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The controller URL or TLS files are unusable.
    #[error("controller endpoint {url}: {reason}")]
    Endpoint {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The connection failed.
    #[error("connect to {url}: {source}")]
    Connect {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// The stream failed or was refused.
    #[error("sync stream: {0}")]
    Stream(#[from] tonic::Status),
    /// The controller closed the stream.
    #[error("the controller closed the sync stream")]
    Closed,
    /// A message did not fit the store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

async fn channel(cfg: &SyncConfig) -> Result<Channel, SessionError> {
    let url = cfg.controller.clone();
    let bad = |reason: String| SessionError::Endpoint {
        url: url.clone(),
        reason,
    };
    let mut endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| bad(e.to_string()))?
        .connect_timeout(Duration::from_secs(3))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(5))
        .keep_alive_timeout(Duration::from_secs(5))
        .keep_alive_while_idle(true);
    if let Some(tls) = &cfg.tls {
        let read =
            |p: &PathBuf| std::fs::read(p).map_err(|e| bad(format!("read {}: {e}", p.display())));
        let mut config = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read(&tls.ca)?))
            .identity(Identity::from_pem(read(&tls.cert)?, read(&tls.key)?));
        if let Some(name) = &tls.server_name {
            config = config.domain_name(name.clone());
        }
        endpoint = endpoint
            .tls_config(config)
            .map_err(|e| bad(e.to_string()))?;
    }
    endpoint
        .connect()
        .await
        .map_err(|source| SessionError::Connect { url, source })
}

fn up(message: pb::agent_message::Message) -> pb::AgentMessage {
    pb::AgentMessage {
        message: Some(message),
    }
}

fn fold(total: &mut Applied, next: Applied) {
    total.revision = next.revision;
    total.unchanged &= next.unchanged;
    total.revoking_groups.extend(next.revoking_groups);
}

fn into_store(store: &mut DesiredStore, message: Down) -> Result<Applied, StoreError> {
    match message {
        Down::Snapshot(s) => Ok(store.apply_snapshot(&s)),
        Down::Delta(d) => store.apply_delta(&d),
    }
}

/// One session: connect, hello, then apply and ack until the stream ends.
async fn session<A: Applier>(
    cfg: &SyncConfig,
    store: &mut DesiredStore,
    applier: &mut A,
    metrics: &AgentMetrics,
    backoff: &mut Backoff,
) -> Result<(), SessionError> {
    let channel = channel(cfg).await?;
    let (tx, rx) = mpsc::channel(16);
    let hello = pb::Hello {
        last_applied_revision: store.revision(),
        ..cfg.hello.clone()
    };
    // The receiver is alive: the send cannot fail.
    let _ = tx.send(up(pb::agent_message::Message::Hello(hello))).await;
    let mut stream = AgentSyncClient::new(channel)
        .sync(ReceiverStream::new(rx))
        .await?
        .into_inner();
    metrics.set_sync_state(SyncState::Connected);
    tracing::info!(controller = %cfg.controller, revision = store.revision(), "sync stream open");
    loop {
        let Some(first) = stream.message().await? else {
            return Err(SessionError::Closed);
        };
        backoff.reset();
        let Some(first) = first.message else { continue };
        let mut applied = into_store(store, first)?;
        // Fold in what is already waiting: one kernel pass, one ack for the latest revision.
        while let Some(next) = stream.message().now_or_never() {
            match next? {
                Some(pb::ControllerMessage {
                    message: Some(m), ..
                }) => fold(&mut applied, into_store(store, m)?),
                Some(_) => {}
                None => return Err(SessionError::Closed),
            }
        }
        let errors = if applied.unchanged {
            Vec::new()
        } else {
            applier.apply(store, &applied).await
        };
        let revision = store.revision();
        metrics.applied_revision.set(revision);
        tracing::info!(revision, errors = errors.len(), "applied; acknowledging");
        let status = if errors.is_empty() {
            pb::NodeStatus {
                health: pb::NodeHealth::Ok as i32,
                ..Default::default()
            }
        } else {
            let reasons: Vec<String> = errors
                .iter()
                .take(5)
                .map(|e| format!("{}: {}", e.id, e.reason))
                .collect();
            pb::NodeStatus {
                health: pb::NodeHealth::Degraded as i32,
                reason: reasons.join("; "),
                ..Default::default()
            }
        };
        let ack = pb::Ack {
            revision,
            applied_at: Some(prost_types::Timestamp::from(SystemTime::now())),
            errors,
        };
        if tx
            .send(up(pb::agent_message::Message::Ack(ack)))
            .await
            .is_err()
            || tx
                .send(up(pb::agent_message::Message::Status(status)))
                .await
                .is_err()
        {
            return Err(SessionError::Closed);
        }
    }
}

/// Holds the stream for as long as the agent runs: sessions one after the other, with backoff
/// between them, never touching the kernel when one fails (fail-static).
pub async fn run<A: Applier>(
    cfg: SyncConfig,
    store: &mut DesiredStore,
    applier: &mut A,
    metrics: &AgentMetrics,
) {
    let mut backoff = cfg.backoff;
    loop {
        metrics.set_sync_state(SyncState::Connecting);
        let result = session(&cfg, store, applier, metrics, &mut backoff).await;
        metrics.set_sync_state(SyncState::Disconnected);
        metrics.reconnects.inc();
        let delay = backoff.next_delay();
        match result {
            Err(SessionError::Endpoint { .. }) | Ok(()) => {}
            Err(SessionError::Store(e)) => {
                tracing::warn!("{e}");
            }
            Err(e) => {
                tracing::warn!(
                    retry_in_ms = delay.as_millis() as u64,
                    revision = store.revision(),
                    "{e}; keeping the kernel as it is (fail-static)"
                );
            }
        }
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(700));
        let delays: Vec<u64> = (0..5).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(delays, vec![100, 200, 400, 700, 700]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn folded_messages_ack_the_latest_revision() {
        let mut total = Applied {
            revision: 5,
            revoking_groups: ["g1".to_string()].into(),
            unchanged: false,
        };
        fold(
            &mut total,
            Applied {
                revision: 7,
                revoking_groups: ["g2".to_string()].into(),
                unchanged: true,
            },
        );
        assert_eq!(total.revision, 7);
        assert!(!total.unchanged);
        assert_eq!(total.revoking_groups.len(), 2);
    }
}
