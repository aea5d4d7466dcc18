//! Where every node stands: acknowledged revisions with their times, when each revision was seen,
//! which nodes each revision concerned, and the convergence receipts built from them. Pure data.
//!
//! Apply latency of a revision on a node = time of the node's first ack at or past it minus the time
//! the controller saw the revision committed (its watch event).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use uuid::Uuid;

use crate::model::Revision;

/// Acks kept per node (for apply latencies of recent revisions).
const ACKS_KEPT: usize = 256;

/// One node's place in a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// The node.
    pub node_id: Uuid,
    /// Its name.
    pub name: String,
    /// The revision it stands at.
    pub applied_revision: Revision,
    /// From the commit of the revision to the node's ack; None while it lags or when unknown.
    pub latency: Option<Duration>,
}

/// Which nodes must apply an object's revision, which have, which lag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The object.
    pub object_id: Uuid,
    /// The revision.
    pub revision: Revision,
    /// Nodes at or past it.
    pub applied: Vec<Mark>,
    /// Nodes behind it.
    pub lagging: Vec<Mark>,
}

impl Receipt {
    /// true when no node lags.
    pub fn converged(&self) -> bool {
        self.lagging.is_empty()
    }
}

#[derive(Debug, Clone, Default)]
struct NodeAcks {
    acked: Revision,
    history: VecDeque<(Revision, SystemTime)>,
}

/// Acks and commit times.
#[derive(Debug, Clone)]
pub struct Progress {
    nodes: HashMap<Uuid, NodeAcks>,
    commits: BTreeMap<Revision, SystemTime>,
    affected: BTreeMap<Revision, Vec<Uuid>>,
    keep: usize,
}

impl Progress {
    /// Remembers the last `keep` revisions' commit times and affected nodes.
    pub fn new(keep: usize) -> Progress {
        Progress {
            nodes: HashMap::new(),
            commits: BTreeMap::new(),
            affected: BTreeMap::new(),
            keep: keep.max(1),
        }
    }

    /// Records that `revision` was seen at `at`, concerning `affected`.
    pub fn committed(&mut self, revision: Revision, at: SystemTime, affected: Vec<Uuid>) {
        self.commits.insert(revision, at);
        self.affected.insert(revision, affected);
        while self.commits.len() > self.keep {
            self.commits.pop_first();
        }
        while self.affected.len() > self.keep {
            self.affected.pop_first();
        }
    }

    /// The nodes `revision` concerned, when still remembered.
    pub fn affected(&self, revision: Revision) -> Option<&[Uuid]> {
        self.affected.get(&revision).map(Vec::as_slice)
    }

    /// When `revision` was seen committed, when still remembered.
    pub fn commit_time(&self, revision: Revision) -> Option<SystemTime> {
        self.commits.get(&revision).copied()
    }

    /// Records an ack; returns the apply latency of the acked revision when its commit is known.
    pub fn acked(&mut self, node: Uuid, revision: Revision, at: SystemTime) -> Option<Duration> {
        let acks = self.nodes.entry(node).or_default();
        if revision <= acks.acked {
            return None;
        }
        acks.acked = revision;
        acks.history.push_back((revision, at));
        while acks.history.len() > ACKS_KEPT {
            acks.history.pop_front();
        }
        at.duration_since(self.commit_time(revision)?).ok()
    }

    /// The last revision `node` acked (0 when never).
    pub fn acked_revision(&self, node: Uuid) -> Revision {
        self.nodes.get(&node).map_or(0, |a| a.acked)
    }

    /// Time from the commit of `revision` to `node`'s first ack at or past it.
    pub fn latency(&self, node: Uuid, revision: Revision) -> Option<Duration> {
        let committed = self.commit_time(revision)?;
        let (_, at) = self
            .nodes
            .get(&node)?
            .history
            .iter()
            .find(|(r, _)| *r >= revision)?;
        at.duration_since(committed).ok()
    }

    /// The receipt of `object_id` at `revision` over the nodes `must`, given where each stands.
    pub fn receipt(
        &self,
        object_id: Uuid,
        revision: Revision,
        must: &BTreeSet<Uuid>,
        stands_at: impl Fn(Uuid) -> (String, Revision),
    ) -> Receipt {
        let mut receipt = Receipt {
            object_id,
            revision,
            applied: Vec::new(),
            lagging: Vec::new(),
        };
        for node in must {
            let (name, at) = stands_at(*node);
            let mut mark = Mark {
                node_id: *node,
                name,
                applied_revision: at,
                latency: None,
            };
            if at >= revision {
                mark.latency = self.latency(*node, revision);
                receipt.applied.push(mark);
            } else {
                receipt.lagging.push(mark);
            }
        }
        receipt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_and_receipts() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let ms = Duration::from_millis;
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut p = Progress::new(2);
        p.committed(10, t0, vec![a, b]);
        p.committed(11, t0 + ms(5), vec![a]);
        assert_eq!(p.acked(a, 11, t0 + ms(12)), Some(ms(7)));
        assert_eq!(p.acked(a, 9, t0 + ms(13)), None, "older ack ignored");
        assert_eq!(p.acked_revision(a), 11);
        // a's first ack past 10 was the one of 11.
        assert_eq!(p.latency(a, 10), Some(ms(12)));
        let must = [a, b].into();
        let r = p.receipt(Uuid::nil(), 10, &must, |n| {
            (format!("hv-{n}"), p.acked_revision(n))
        });
        assert_eq!(r.applied.len(), 1);
        assert_eq!(r.applied[0].latency, Some(ms(12)));
        assert_eq!(r.lagging[0].node_id, b);
        assert!(!r.converged());
        p.committed(12, t0 + ms(20), vec![]);
        assert_eq!(p.affected(10), None, "only the last 2 revisions are kept");
        assert_eq!(p.affected(11), Some(&[a][..]));
    }
}
