//! The `sdn.v1.AgentSync` gRPC service: a thin shell over the [`Hub`].
//!
//! The first message must be a hello (within 10 s) for the node the client certificate names (when
//! the server runs with mTLS); then acks and status flow up while snapshots and deltas flow down from
//! the node's bounded outbox.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::Stream;
use sdn_proto::v1 as pb;
use sdn_proto::v1::agent_sync_server::{AgentSync, AgentSyncServer};
use tonic::{Request, Response, Status, Streaming};

use super::hub::Hub;
use super::outbox::Next;
use crate::error::Error;
use crate::identity::{self, Access};
use crate::store::Store;
use crate::validation as v;

/// How long an agent has to send its hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// The agent sync service.
#[derive(Debug, Clone)]
pub struct SyncService<S> {
    hub: Hub<S>,
    authenticate: bool,
}

impl<S: Store> SyncService<S> {
    /// A service over `hub`; with `authenticate`, each stream's node must match the client
    /// certificate.
    pub fn new(hub: Hub<S>, authenticate: bool) -> SyncService<S> {
        SyncService { hub, authenticate }
    }

    /// A tonic server for this service.
    pub fn into_server(self) -> AgentSyncServer<Self> {
        AgentSyncServer::new(self)
    }
}

type Outbound = Pin<Box<dyn Stream<Item = Result<pb::ControllerMessage, Status>> + Send>>;

#[tonic::async_trait]
impl<S: Store> AgentSync for SyncService<S> {
    type SyncStream = Outbound;

    async fn sync(
        &self,
        request: Request<Streaming<pb::AgentMessage>>,
    ) -> Result<Response<Outbound>, Status> {
        let who = if self.authenticate {
            Some(identity::of_request(&request)?)
        } else {
            None
        };
        let mut inbound = request.into_inner();
        let first = tokio::time::timeout(HELLO_TIMEOUT, inbound.message())
            .await
            .map_err(|_| {
                Status::deadline_exceeded("send a hello within 10 s of opening the stream")
            })??;
        let hello = match first.and_then(|m| m.message) {
            Some(pb::agent_message::Message::Hello(h)) => h,
            _ => {
                return Err(Error::Missing {
                    field: "hello".into(),
                }
                .into());
            }
        };
        let node_id = v::parse_id("hello.node_id", &hello.node_id)?;
        if let Some(who) = &who {
            identity::authorize(who, Access::Sync(node_id))?;
        }
        let handle = self.hub.open(node_id, &hello).await?;
        let failure: Arc<Mutex<Option<Status>>> = Arc::default();

        let (hub, h, fail) = (self.hub.clone(), handle.clone(), failure.clone());
        tokio::spawn(async move {
            loop {
                match inbound.message().await {
                    Ok(Some(pb::AgentMessage {
                        message: Some(pb::agent_message::Message::Ack(ack)),
                    })) => {
                        if let Err(err) = hub.ack(&h, &ack) {
                            *fail.lock().unwrap_or_else(|p| p.into_inner()) = Some(err.into());
                            break;
                        }
                    }
                    Ok(Some(pb::AgentMessage {
                        message: Some(pb::agent_message::Message::Status(status)),
                    })) => {
                        tracing::debug!(node = %h.node_id, health = status.health, reason = %status.reason, "node status");
                    }
                    Ok(Some(_)) => {
                        *fail.lock().unwrap_or_else(|p| p.into_inner()) = Some(
                            Status::invalid_argument(
                                "hello: send it once, as the first message; reconnect to start over",
                            ),
                        );
                        break;
                    }
                    Ok(None) | Err(_) => break,
                }
            }
            hub.close(&h);
        });

        let hub = self.hub.clone();
        let outbound = futures_util::stream::unfold(
            (hub, handle, failure, false),
            |(hub, handle, failure, done)| async move {
                if done {
                    return None;
                }
                let item = match handle.outbox.next().await {
                    Next::Message(m) => Ok(m),
                    Next::Snapshot => Ok(hub.snapshot(&handle)?),
                    Next::Closed => {
                        let err = failure.lock().unwrap_or_else(|p| p.into_inner()).take();
                        Err(err?)
                    }
                };
                let done = item.is_err();
                Some((item, (hub, handle, failure, done)))
            },
        );
        Ok(Response::new(Box::pin(outbound)))
    }
}
