//! [`diff`]: the map operations that move a port from one compiled policy to the next.
//!
//! # Applying a change without a half-updated moment
//!
//! The driver applies a [`PolicyDiff`] in this order:
//!
//! 1. [`rule_upserts`](PolicyDiff::rule_upserts) into `sdn_rule_match`;
//! 2. [`remote_upserts`](PolicyDiff::remote_upserts) into `sdn_remote`;
//! 3. if [`port_changed`](PolicyDiff::port_changed), one update of `sdn_port` with both policy
//!    ids ([`DirectionTables::port_policy_id`]) and the egress flag;
//! 4. [`remote_deletes`](PolicyDiff::remote_deletes), then
//! 5. [`rule_deletes`](PolicyDiff::rule_deletes).
//!
//! **The generation swap** is the general case: the new policy is compiled under fresh policy
//! ids, so steps 1-2 write entries no packet can see, step 3 flips the port in one map update,
//! and steps 4-5 remove entries no packet can reach any more. Every packet sees either the old
//! policy or the new one; the port is never unprotected.
//!
//! **In place** (same policy ids, classes reused through
//! [`CompileOptions::previous`](super::CompileOptions::previous)) writes only what changed, but is
//! only safe when at most one operation is visible to packets: a new class's rule entries are
//! invisible until a remote entry names it, and a class's rule entries are deleted only after no
//! remote entry names it any more. [`PolicyDiff::is_atomic`] says whether that holds (typically:
//! a group member added or removed, a rule whose remote has its own class); when it does not, the
//! driver recompiles under fresh ids and swaps.

use std::collections::{HashMap, HashSet};

use super::compiled::{CompiledPolicy, DirectionTables, RemoteEntry, RuleEntry};
use super::compiler::{WIDE_CLASS_IPV4, WIDE_CLASS_IPV6};

/// The map operations from one compiled policy to another, in the order they must be applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyDiff {
    /// Step 1: `sdn_rule_match` entries to insert or overwrite.
    pub rule_upserts: Vec<RuleEntry>,
    /// Step 2: `sdn_remote` entries to insert or overwrite.
    pub remote_upserts: Vec<RemoteEntry>,
    /// Step 3: whether `sdn_port` must be rewritten (a policy id or the egress flag changed).
    pub port_changed: bool,
    /// Step 4: `sdn_remote` entries to delete (by key; the value is the old one).
    pub remote_deletes: Vec<RemoteEntry>,
    /// Step 5: `sdn_rule_match` entries to delete (by key; the value is the old one).
    pub rule_deletes: Vec<RuleEntry>,
    /// How many of the operations above change what some packet sees while they are applied.
    pub visible_steps: usize,
}

impl PolicyDiff {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.operations() == 0
    }

    /// How many map operations the diff takes.
    pub fn operations(&self) -> usize {
        self.rule_upserts.len()
            + self.remote_upserts.len()
            + usize::from(self.port_changed)
            + self.remote_deletes.len()
            + self.rule_deletes.len()
    }

    /// Whether applying the steps in order shows every packet either the old policy or the new
    /// one (at most one visible operation); otherwise swap to fresh policy ids.
    pub fn is_atomic(&self) -> bool {
        self.visible_steps <= 1
    }
}

/// The operations that turn `old`'s map entries into `new`'s; see the module docs.
pub fn diff(old: &CompiledPolicy, new: &CompiledPolicy) -> PolicyDiff {
    let remote_key = |e: &RemoteEntry| (e.policy, e.addr, e.prefix_len);
    let old_remotes: HashMap<_, &RemoteEntry> =
        old.remote_entries().map(|e| (remote_key(e), e)).collect();
    let new_remotes: HashMap<_, &RemoteEntry> =
        new.remote_entries().map(|e| (remote_key(e), e)).collect();
    let old_rules: HashMap<_, &RuleEntry> = old.rule_entries().map(|e| (e.key(), e)).collect();
    let new_rules: HashMap<_, &RuleEntry> = new.rule_entries().map(|e| (e.key(), e)).collect();

    let mut out = PolicyDiff {
        rule_upserts: new
            .rule_entries()
            .filter(|e| old_rules.get(&e.key()) != Some(e))
            .copied()
            .collect(),
        remote_upserts: new
            .remote_entries()
            .filter(|e| old_remotes.get(&remote_key(e)) != Some(e))
            .copied()
            .collect(),
        port_changed: port_config(old) != port_config(new),
        remote_deletes: old
            .remote_entries()
            .filter(|e| !new_remotes.contains_key(&remote_key(e)))
            .copied()
            .collect(),
        rule_deletes: old
            .rule_entries()
            .filter(|e| !new_rules.contains_key(&e.key()))
            .copied()
            .collect(),
        visible_steps: 0,
    };
    for list in [&mut out.rule_upserts, &mut out.rule_deletes] {
        list.sort_unstable();
    }
    for list in [&mut out.remote_upserts, &mut out.remote_deletes] {
        list.sort_unstable();
    }

    // Before the port flip packets see the old policy ids, after it the new ones.
    let (old_live, new_live) = (Live::of(old), Live::of(new));
    out.visible_steps = out
        .rule_upserts
        .iter()
        .filter(|e| old_live.classes.contains(&(e.policy, e.class)))
        .count()
        + out
            .remote_upserts
            .iter()
            .filter(|e| old_live.policies.contains(&e.policy))
            .count()
        + usize::from(out.port_changed)
        + out
            .remote_deletes
            .iter()
            .filter(|e| new_live.policies.contains(&e.policy))
            .count()
        + out
            .rule_deletes
            .iter()
            .filter(|e| new_live.classes.contains(&(e.policy, e.class)))
            .count();
    out
}

/// What `sdn_port` holds for a compiled policy: both ids and the egress flag.
fn port_config(policy: &CompiledPolicy) -> (u32, u32, bool) {
    (
        policy.ingress.port_policy_id(),
        policy.egress.port_policy_id(),
        policy.egress_default_deny,
    )
}

/// The policy ids a port written from a compiled policy points at, and the classes they reach.
struct Live {
    policies: HashSet<u32>,
    classes: HashSet<(u32, u32)>,
}

impl Live {
    fn of(policy: &CompiledPolicy) -> Self {
        let tables: [&DirectionTables; 2] = [&policy.ingress, &policy.egress];
        let policies: HashSet<u32> = tables
            .iter()
            .map(|t| t.port_policy_id())
            .filter(|id| *id != 0)
            .collect();
        // Wide classes are reached without a remote entry.
        let classes = tables
            .iter()
            .filter(|t| policies.contains(&t.policy_id))
            .flat_map(|t| {
                let wide = [WIDE_CLASS_IPV4, WIDE_CLASS_IPV6].map(|c| (t.policy_id, c));
                t.remote_entries
                    .iter()
                    .map(|e| (e.policy, e.class))
                    .chain(wide)
            })
            .collect();
        Live { policies, classes }
    }
}
