//! The node-local allocator of dataplane rule ids: a security rule's UUID (and, for a rule with
//! no remote, its address family) to the `u32` the programs report verdicts with.
//!
//! The programs attribute every verdict to a `u32` (`>=` [`FIRST_RULE_ID`]; smaller numbers name
//! built-ins), while the API names rules by UUID. The allocator:
//!
//! - hashes the key with 64-bit FNV-1a (stable across builds and machines, unlike `std`'s
//!   hasher) onto `FIRST_RULE_ID..=u32::MAX`;
//! - on a collision, probes linearly (`+1`, wrapping inside the range) to the first free id;
//! - keeps the ids of keys that stay in use ([`RuleIds::assign`] only adds and frees), so a
//!   rule's id never changes while it exists on the node: its counters and the conntrack entries
//!   it admitted stay attributed to it;
//! - assigns new keys in sorted order, so the same rule set assigned from scratch (a restarted
//!   agent) gets the same ids; only a collision resolved under a different history can differ,
//!   which with about 4.3 billion ids and a node's few thousand rules is rare.
//!
//! A rule with no remote admits both families; the policy compiler takes a CIDR per rule, so it
//! becomes two dataplane rules (`0.0.0.0/0` and `::/0`) with the keys [`RuleKey::v4`] and
//! [`RuleKey::v6`]. Counters of both are reported under the rule's UUID.

use std::collections::{BTreeMap, BTreeSet};

use crate::policy::FIRST_RULE_ID;

/// Which part of an API rule a dataplane rule is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RulePart {
    /// The whole rule (it has a remote CIDR or group).
    Whole,
    /// The IPv4 half of a rule without remote.
    Ipv4,
    /// The IPv6 half of a rule without remote.
    Ipv6,
}

/// What an id is allocated for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RuleKey {
    /// The rule's UUID, as the API spells it.
    pub rule: String,
    /// Which part of it.
    pub part: RulePart,
}

impl RuleKey {
    /// A rule with a remote.
    pub fn whole(rule: &str) -> RuleKey {
        RuleKey {
            rule: rule.to_owned(),
            part: RulePart::Whole,
        }
    }

    /// The IPv4 half of a rule without remote.
    pub fn v4(rule: &str) -> RuleKey {
        RuleKey {
            rule: rule.to_owned(),
            part: RulePart::Ipv4,
        }
    }

    /// The IPv6 half of a rule without remote.
    pub fn v6(rule: &str) -> RuleKey {
        RuleKey {
            rule: rule.to_owned(),
            part: RulePart::Ipv6,
        }
    }

    fn hash_input(&self) -> String {
        match self.part {
            RulePart::Whole => self.rule.clone(),
            RulePart::Ipv4 => format!("{}/ipv4", self.rule),
            RulePart::Ipv6 => format!("{}/ipv6", self.rule),
        }
    }
}

/// 64-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// How many ids the range holds: `FIRST_RULE_ID..=u32::MAX`.
const SPAN: u64 = u32::MAX as u64 - FIRST_RULE_ID as u64 + 1;

/// The id a key hashes to before probing.
pub fn home_id(key: &RuleKey) -> u32 {
    let h = fnv1a(key.hash_input().as_bytes()) % SPAN;
    (u64::from(FIRST_RULE_ID) + h) as u32
}

fn next(id: u32) -> u32 {
    if id == u32::MAX {
        FIRST_RULE_ID
    } else {
        id + 1
    }
}

/// The ids of one node's rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleIds {
    by_key: BTreeMap<RuleKey, u32>,
    by_id: BTreeMap<u32, RuleKey>,
}

impl RuleIds {
    /// No rule yet.
    pub fn new() -> RuleIds {
        RuleIds::default()
    }

    /// Makes the allocation cover exactly `keys`: keys already allocated keep their id, keys no
    /// longer present free theirs, new keys get one (in sorted order, hash then linear probing).
    pub fn assign(&mut self, keys: &BTreeSet<RuleKey>) {
        let gone: Vec<RuleKey> = self
            .by_key
            .keys()
            .filter(|k| !keys.contains(*k))
            .cloned()
            .collect();
        for k in gone {
            if let Some(id) = self.by_key.remove(&k) {
                self.by_id.remove(&id);
            }
        }
        for k in keys {
            if self.by_key.contains_key(k) {
                continue;
            }
            let mut id = home_id(k);
            while self.by_id.contains_key(&id) {
                id = next(id);
            }
            self.by_key.insert(k.clone(), id);
            self.by_id.insert(id, k.clone());
        }
    }

    /// The id of `key`, when allocated.
    pub fn id(&self, key: &RuleKey) -> Option<u32> {
        self.by_key.get(key).copied()
    }

    /// The key an id was allocated for (to report counters by rule UUID).
    pub fn key(&self, id: u32) -> Option<&RuleKey> {
        self.by_id.get(&id)
    }

    /// How many ids are allocated.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(names: &[&str]) -> BTreeSet<RuleKey> {
        names.iter().map(|n| RuleKey::whole(n)).collect()
    }

    #[test]
    fn ids_are_in_range_and_deterministic() {
        let set = keys(&["a", "b", "c", "6f1c2b8e-0000-4000-8000-000000000001"]);
        let mut one = RuleIds::new();
        one.assign(&set);
        let mut two = RuleIds::new();
        two.assign(&set);
        assert_eq!(one, two);
        for k in &set {
            let id = one.id(k).unwrap();
            assert!(id >= FIRST_RULE_ID);
            assert_eq!(one.key(id), Some(k));
        }
        // FNV-1a is fixed: the same key hashes the same everywhere.
        assert_eq!(home_id(&RuleKey::whole("a")), home_id(&RuleKey::whole("a")));
        assert_ne!(home_id(&RuleKey::v4("a")), home_id(&RuleKey::v6("a")));
    }

    #[test]
    fn existing_ids_survive_additions_and_removals() {
        let mut ids = RuleIds::new();
        ids.assign(&keys(&["r1", "r2", "r3"]));
        let r2 = ids.id(&RuleKey::whole("r2")).unwrap();
        ids.assign(&keys(&["r2", "r4", "r5"]));
        assert_eq!(ids.id(&RuleKey::whole("r2")), Some(r2));
        assert_eq!(ids.id(&RuleKey::whole("r1")), None);
        assert_eq!(ids.len(), 3);
    }

    #[test]
    fn collisions_probe_to_the_next_free_id() {
        let mut ids = RuleIds::new();
        let a = RuleKey::whole("a");
        let home = home_id(&a);
        // Occupy a's home id with another key, as a collision would.
        ids.by_key.insert(RuleKey::whole("squatter"), home);
        ids.by_id.insert(home, RuleKey::whole("squatter"));
        let mut set = BTreeSet::from([a.clone(), RuleKey::whole("squatter")]);
        ids.assign(&set);
        assert_eq!(ids.id(&a), Some(next(home)));
        set.remove(&a);
        ids.assign(&set);
        assert_eq!(ids.key(next(home)), None);
        assert_eq!(next(u32::MAX), FIRST_RULE_ID);
    }

    #[test]
    fn thousands_of_rules_get_distinct_ids() {
        let set: BTreeSet<RuleKey> = (0..5000)
            .map(|i| RuleKey::whole(&format!("00000000-0000-4000-8000-{i:012x}")))
            .collect();
        let mut ids = RuleIds::new();
        ids.assign(&set);
        let distinct: BTreeSet<u32> = set.iter().map(|k| ids.id(k).unwrap()).collect();
        assert_eq!(distinct.len(), 5000);
    }
}
