//! The store: the controller's only state, behind one trait with two implementations.
//!
//! - [`memory::MemoryStore`]: in-process, for unit tests and the pure parts of the registry;
//! - [`etcd::EtcdStore`]: etcd through etcd-client, the production store.
//!
//! Both pass [`conformance`], one suite of behaviour: revisions start at 1 and grow by one per
//! committed transaction; a transaction is all-or-nothing and guarded by [`Compare`]s on mod revisions;
//! a watch replays every event from a revision, in order, batched per revision.
//!
//! **API Boundary**: only this module talks to etcd. Key layout: [`keys`].

pub mod conformance;
pub mod etcd;
pub mod keys;
pub mod memory;

use std::future::Future;

use tokio::sync::mpsc;

use crate::error::Result;
use crate::model::Revision;

/// A stored key with its value and revisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value.
    pub value: Vec<u8>,
    /// Revision that created the key.
    pub create_revision: Revision,
    /// Revision of the key's last change.
    pub mod_revision: Revision,
}

/// Keys under a prefix, read at one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// Store revision of the read.
    pub revision: Revision,
    /// The keys, in key order.
    pub kvs: Vec<KeyValue>,
    /// true when the page was cut by the limit (more keys follow).
    pub more: bool,
}

/// A guard of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compare {
    /// The key's mod revision equals `revision`; 0 means the key must not exist.
    ModRevision {
        /// The key.
        key: String,
        /// Expected mod revision.
        revision: Revision,
    },
    /// No key under `prefix` was written (created or changed) after `revision`.
    PrefixUnchangedSince {
        /// The prefix.
        prefix: String,
        /// Revision of the read the caller based itself on.
        revision: Revision,
    },
}

/// A write of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Sets a key.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
    },
    /// Removes a key (no-op when absent).
    Delete {
        /// The key.
        key: String,
    },
}

/// An atomic, guarded write: all ops apply if every compare holds, none otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Txn {
    /// Guards.
    pub compares: Vec<Compare>,
    /// Writes.
    pub ops: Vec<Op>,
}

impl Txn {
    /// Adds a mod-revision guard.
    pub fn expect(&mut self, key: impl Into<String>, revision: Revision) -> &mut Self {
        self.compares.push(Compare::ModRevision {
            key: key.into(),
            revision,
        });
        self
    }

    /// Adds a "nothing new under prefix" guard.
    pub fn expect_prefix_unchanged(
        &mut self,
        prefix: impl Into<String>,
        revision: Revision,
    ) -> &mut Self {
        self.compares.push(Compare::PrefixUnchangedSince {
            prefix: prefix.into(),
            revision,
        });
        self
    }

    /// Adds a put.
    pub fn put(&mut self, key: impl Into<String>, value: Vec<u8>) -> &mut Self {
        self.ops.push(Op::Put {
            key: key.into(),
            value,
        });
        self
    }

    /// Adds a delete.
    pub fn delete(&mut self, key: impl Into<String>) -> &mut Self {
        self.ops.push(Op::Delete { key: key.into() });
        self
    }
}

/// Outcome of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnOutcome {
    /// Every compare held; the ops are written at this revision.
    Committed(Revision),
    /// A compare failed; nothing was written. The store was at this revision.
    Conflict(Revision),
}

/// Kind of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The key was set.
    Put,
    /// The key was removed.
    Delete,
}

/// One change seen by a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Put or delete.
    pub kind: EventKind,
    /// The key.
    pub key: String,
    /// The new value (empty for a delete).
    pub value: Vec<u8>,
    /// Revision of the change.
    pub revision: Revision,
}

/// A stream of changes under a prefix: one batch per revision, in revision order.
#[derive(Debug)]
pub struct Watch {
    rx: mpsc::UnboundedReceiver<Result<Vec<Event>>>,
}

impl Watch {
    /// Wraps a receiver the implementation feeds.
    pub fn new(rx: mpsc::UnboundedReceiver<Result<Vec<Event>>>) -> Watch {
        Watch { rx }
    }

    /// The next batch of events; None when the store closed the watch.
    pub async fn next(&mut self) -> Option<Result<Vec<Event>>> {
        self.rx.recv().await
    }
}

/// The controller's state store.
pub trait Store: Clone + Send + Sync + 'static {
    /// Reads one key.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<KeyValue>>> + Send;

    /// Reads up to `limit` keys under `prefix` that sort after `start_after` (empty = from the
    /// start), at one revision. `limit` 0 means no limit.
    fn list(
        &self,
        prefix: &str,
        start_after: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Listing>> + Send;

    /// Applies a guarded transaction.
    fn txn(&self, txn: Txn) -> impl Future<Output = Result<TxnOutcome>> + Send;

    /// The store's current revision.
    fn revision(&self) -> impl Future<Output = Result<Revision>> + Send;

    /// Watches `prefix` from revision `from` (inclusive; 0 = from the next change).
    fn watch(&self, prefix: &str, from: Revision) -> impl Future<Output = Result<Watch>> + Send;
}

/// The first key after every key with `prefix` (etcd's range end for a prefix).
pub fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}
