//! The etcd [`Store`]: etcd v3 through etcd-client (works with etcd 3.4 and later).
//!
//! Every method is one etcd request; [`Store::txn`] is one etcd transaction whose compares are
//! `mod_revision` compares (a prefix compare uses etcd's range compare: every key in the range has
//! `mod_revision < revision + 1`, vacuously true for an empty range).

use std::time::Duration;

use etcd_client::{
    Client, Compare as EtcdCompare, CompareOp, ConnectOptions, EventType, GetOptions, TxnOp,
    WatchOptions,
};
use tokio::sync::mpsc;

use super::{Compare, Event, EventKind, KeyValue, Listing, Op, Store, Txn, TxnOutcome, Watch};
use crate::error::{Error, Result};
use crate::model::Revision;

/// A store backed by an etcd cluster.
#[derive(Clone)]
pub struct EtcdStore {
    client: Client,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore").finish_non_exhaustive()
    }
}

fn store_err(source: etcd_client::Error) -> Error {
    Error::Store { source }
}

fn kv_of(kv: &etcd_client::KeyValue) -> KeyValue {
    KeyValue {
        key: String::from_utf8_lossy(kv.key()).into_owned(),
        value: kv.value().to_vec(),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
    }
}

fn header_revision(h: Option<&etcd_client::ResponseHeader>) -> Revision {
    h.map_or(0, |h| h.revision())
}

impl EtcdStore {
    /// Connects to `endpoints` (`http://127.0.0.1:2379`, ...) and checks that etcd answers.
    pub async fn connect(endpoints: &[String]) -> Result<EtcdStore> {
        let options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(3))
            .with_timeout(Duration::from_secs(5));
        let unavailable = |source| Error::StoreUnavailable {
            endpoints: endpoints.join(","),
            source,
        };
        let mut client = Client::connect(endpoints, Some(options))
            .await
            .map_err(unavailable)?;
        client
            .get("/", Some(GetOptions::new().with_count_only()))
            .await
            .map_err(unavailable)?;
        Ok(EtcdStore { client })
    }
}

impl Store for EtcdStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let resp = self
            .client
            .clone()
            .get(key, None)
            .await
            .map_err(store_err)?;
        Ok(resp.kvs().first().map(kv_of))
    }

    async fn list(&self, prefix: &str, start_after: &str, limit: usize) -> Result<Listing> {
        let mut start = format!("{prefix}{start_after}").into_bytes();
        if !start_after.is_empty() {
            start.push(0);
        }
        let mut options = GetOptions::new().with_range(super::prefix_end(prefix));
        if limit > 0 {
            options = options.with_limit(limit as i64);
        }
        let resp = self
            .client
            .clone()
            .get(start, Some(options))
            .await
            .map_err(store_err)?;
        Ok(Listing {
            revision: header_revision(resp.header()),
            kvs: resp.kvs().iter().map(kv_of).collect(),
            more: resp.more(),
        })
    }

    async fn txn(&self, txn: Txn) -> Result<TxnOutcome> {
        let compares: Vec<EtcdCompare> = txn
            .compares
            .into_iter()
            .map(|c| match c {
                Compare::ModRevision { key, revision } => {
                    EtcdCompare::mod_revision(key, CompareOp::Equal, revision)
                }
                Compare::PrefixUnchangedSince { prefix, revision } => {
                    EtcdCompare::mod_revision(prefix.clone(), CompareOp::Less, revision + 1)
                        .with_range(super::prefix_end(&prefix))
                }
            })
            .collect();
        let ops: Vec<TxnOp> = txn
            .ops
            .into_iter()
            .map(|op| match op {
                Op::Put { key, value } => TxnOp::put(key, value, None),
                Op::Delete { key } => TxnOp::delete(key, None),
            })
            .collect();
        let resp = self
            .client
            .clone()
            .txn(etcd_client::Txn::new().when(compares).and_then(ops))
            .await
            .map_err(store_err)?;
        let revision = header_revision(resp.header());
        Ok(if resp.succeeded() {
            TxnOutcome::Committed(revision)
        } else {
            TxnOutcome::Conflict(revision)
        })
    }

    async fn revision(&self) -> Result<Revision> {
        let resp = self
            .client
            .clone()
            .get("/", Some(GetOptions::new().with_count_only()))
            .await
            .map_err(store_err)?;
        Ok(header_revision(resp.header()))
    }

    async fn watch(&self, prefix: &str, from: Revision) -> Result<Watch> {
        let mut options = WatchOptions::new().with_prefix();
        if from > 0 {
            options = options.with_start_revision(from);
        }
        let mut stream = self
            .client
            .clone()
            .watch(prefix, Some(options))
            .await
            .map_err(store_err)?;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tx.closed() => return,
                    msg = stream.message() => {
                        let resp = match msg {
                            Ok(Some(resp)) => resp,
                            Ok(None) => return,
                            Err(source) => {
                                let _ = tx.send(Err(store_err(source)));
                                return;
                            }
                        };
                        if resp.compact_revision() > 0 {
                            let _ = tx.send(Err(Error::Compacted {
                                revision: from,
                                compacted: resp.compact_revision(),
                            }));
                            return;
                        }
                        let mut batch: Vec<Event> = Vec::new();
                        for e in resp.events() {
                            let Some(kv) = e.kv() else { continue };
                            let event = Event {
                                kind: match e.event_type() {
                                    EventType::Put => EventKind::Put,
                                    EventType::Delete => EventKind::Delete,
                                },
                                key: String::from_utf8_lossy(kv.key()).into_owned(),
                                value: kv.value().to_vec(),
                                revision: kv.mod_revision(),
                            };
                            if batch.first().is_some_and(|b| b.revision != event.revision)
                                && tx.send(Ok(std::mem::take(&mut batch))).is_err()
                            {
                                return;
                            }
                            batch.push(event);
                        }
                        if resp.canceled() {
                            return;
                        }
                        if !batch.is_empty() && tx.send(Ok(batch)).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Ok(Watch::new(rx))
    }
}
