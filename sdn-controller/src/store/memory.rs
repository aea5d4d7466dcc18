//! An in-memory [`Store`] with etcd's semantics (revisions, guarded transactions, watch history).
//!
//! Used by unit tests; it keeps its whole history (no compaction), which is fine for tests only.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;

use super::{Compare, Event, EventKind, KeyValue, Listing, Op, Store, Txn, TxnOutcome, Watch};
use crate::error::Result;
use crate::model::Revision;

#[derive(Debug)]
struct State {
    revision: Revision,
    kvs: BTreeMap<String, KeyValue>,
    history: Vec<Event>,
    watchers: Vec<(String, mpsc::UnboundedSender<Result<Vec<Event>>>)>,
}

/// An in-memory store; clones share the same state.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl MemoryStore {
    /// An empty store at revision 1 (as a fresh etcd).
    pub fn new() -> MemoryStore {
        MemoryStore {
            state: Arc::new(Mutex::new(State {
                revision: 1,
                kvs: BTreeMap::new(),
                history: Vec::new(),
                watchers: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn holds(state: &State, cmp: &Compare) -> bool {
    match cmp {
        Compare::ModRevision { key, revision } => {
            state.kvs.get(key).map_or(0, |kv| kv.mod_revision) == *revision
        }
        Compare::PrefixUnchangedSince { prefix, revision } => state
            .kvs
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(prefix.as_str()))
            .all(|(_, kv)| kv.mod_revision <= *revision),
    }
}

impl Store for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        Ok(self.lock().kvs.get(key).cloned())
    }

    async fn list(&self, prefix: &str, start_after: &str, limit: usize) -> Result<Listing> {
        let state = self.lock();
        let start = format!("{prefix}{start_after}");
        let mut kvs: Vec<KeyValue> = state
            .kvs
            .range(start.clone()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(k, _)| start_after.is_empty() || **k != start)
            .map(|(_, kv)| kv.clone())
            .collect();
        let more = limit > 0 && kvs.len() > limit;
        if limit > 0 {
            kvs.truncate(limit);
        }
        Ok(Listing {
            revision: state.revision,
            kvs,
            more,
        })
    }

    async fn txn(&self, txn: Txn) -> Result<TxnOutcome> {
        let mut state = self.lock();
        if !txn.compares.iter().all(|c| holds(&state, c)) {
            return Ok(TxnOutcome::Conflict(state.revision));
        }
        if txn.ops.is_empty() {
            return Ok(TxnOutcome::Committed(state.revision));
        }
        let revision = state.revision + 1;
        let mut events = Vec::new();
        for op in txn.ops {
            match op {
                Op::Put { key, value } => {
                    let create_revision = state
                        .kvs
                        .get(&key)
                        .map_or(revision, |kv| kv.create_revision);
                    state.kvs.insert(
                        key.clone(),
                        KeyValue {
                            key: key.clone(),
                            value: value.clone(),
                            create_revision,
                            mod_revision: revision,
                        },
                    );
                    events.push(Event {
                        kind: EventKind::Put,
                        key,
                        value,
                        revision,
                    });
                }
                Op::Delete { key } => {
                    if state.kvs.remove(&key).is_some() {
                        events.push(Event {
                            kind: EventKind::Delete,
                            key,
                            value: Vec::new(),
                            revision,
                        });
                    }
                }
            }
        }
        if events.is_empty() {
            return Ok(TxnOutcome::Committed(state.revision));
        }
        state.revision = revision;
        state.history.extend(events.iter().cloned());
        state.watchers.retain(|(prefix, tx)| {
            let batch: Vec<Event> = events
                .iter()
                .filter(|e| e.key.starts_with(prefix.as_str()))
                .cloned()
                .collect();
            batch.is_empty() || tx.send(Ok(batch)).is_ok()
        });
        Ok(TxnOutcome::Committed(revision))
    }

    async fn revision(&self) -> Result<Revision> {
        Ok(self.lock().revision)
    }

    async fn watch(&self, prefix: &str, from: Revision) -> Result<Watch> {
        let mut state = self.lock();
        let (tx, rx) = mpsc::unbounded_channel();
        if from > 0 {
            let mut batch: Vec<Event> = Vec::new();
            for e in state
                .history
                .iter()
                .filter(|e| e.revision >= from && e.key.starts_with(prefix))
            {
                if batch.first().is_some_and(|b| b.revision != e.revision) {
                    let _ = tx.send(Ok(std::mem::take(&mut batch)));
                }
                batch.push(e.clone());
            }
            if !batch.is_empty() {
                let _ = tx.send(Ok(batch));
            }
        }
        state.watchers.push((prefix.to_string(), tx));
        Ok(Watch::new(rx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance() {
        super::super::conformance::run_all(&MemoryStore::new()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conformance_concurrency() {
        super::super::conformance::concurrent_cas(MemoryStore::new()).await;
    }
}
