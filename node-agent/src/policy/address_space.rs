//! Remote classification: which rule remotes contain each address.
//!
//! Every remote (a CIDR, or a group's member addresses as host prefixes) is a set of prefixes in
//! one 128-bit space where IPv4 is written v4-mapped (`::ffff:a.b.c.d`, an IPv4 /n is a /96+n).
//! For every distinct prefix `p` the set of remotes containing its addresses is the union of the
//! remotes of `p` and of every prefix above it. A longest-prefix lookup of an address lands on the
//! longest prefix that contains it, and every prefix containing the address is an ancestor of (or
//! equal to) that one, so the set stored there is exactly the set of remotes containing the address.
//!
//! **The IPv4 boundary.** An IPv6 prefix such as `::/0` also contains `::ffff:0:0/96`, yet IPv6
//! rules must never match IPv4 packets. The boundary prefix `::ffff:0:0/96` is therefore always a
//! node, and it inherits nothing from the IPv6 prefixes above it: its set holds only IPv4 `/0`
//! remotes. IPv6 CIDRs inside the boundary are rejected before they get here.

use std::collections::HashMap;

/// `::ffff:0:0`, the IPv4-mapped range (a /96).
pub(super) const MAPPED_NETWORK: u128 = 0xffff_u128 << 32;
/// The prefix length of the IPv4-mapped range.
pub(super) const MAPPED_PREFIX_LEN: u8 = 96;

/// An address family, for the rules a prefix's class may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Family {
    /// IPv4 (the v4-mapped range).
    V4,
    /// IPv6 (everything else).
    V6,
}

impl Family {
    /// The prefix length of one host, in the family's own bits.
    pub(super) fn host_len(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

/// A prefix of the 128-bit (v4-mapped) address space, with its host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct AddressPrefix {
    /// The network address.
    pub(super) network: u128,
    /// Its length, 0..=128.
    pub(super) len: u8,
}

impl AddressPrefix {
    /// The prefix of `len` bits containing `addr` (host bits cleared).
    pub(super) fn new(addr: u128, len: u8) -> Self {
        AddressPrefix {
            network: addr & mask(len),
            len,
        }
    }

    /// Whether `self` contains `other` (or equals it).
    pub(super) fn contains(&self, other: &AddressPrefix) -> bool {
        self.len <= other.len && other.network & mask(self.len) == self.network
    }

    /// Whether the prefix holds IPv4 addresses (lies inside `::ffff:0:0/96`).
    pub(super) fn family(&self) -> Family {
        if Self::boundary().contains(self) {
            Family::V4
        } else {
            Family::V6
        }
    }

    /// `::ffff:0:0/96`.
    pub(super) fn boundary() -> Self {
        AddressPrefix {
            network: MAPPED_NETWORK,
            len: MAPPED_PREFIX_LEN,
        }
    }
}

/// The netmask of a prefix length.
pub(super) fn mask(len: u8) -> u128 {
    match len {
        0 => 0,
        n => u128::MAX << (128 - u32::from(n)),
    }
}

/// One distinct prefix with the complete set of remotes that contain its addresses.
#[derive(Debug, Clone)]
pub(super) struct ClassifiedPrefix {
    /// The prefix.
    pub(super) prefix: AddressPrefix,
    /// The family of the addresses a lookup resolves here.
    pub(super) family: Family,
    /// Index into [`Classification::sets`].
    pub(super) set: usize,
    /// The closest enclosing prefix in the list (what a lookup falls back to without this one).
    pub(super) parent: Option<usize>,
}

/// The classified prefixes, in pre-order (every prefix after its ancestors), and the distinct
/// remote sets (sorted remote indices) they refer to.
#[derive(Debug, Clone, Default)]
pub(super) struct Classification {
    /// Distinct prefixes.
    pub(super) prefixes: Vec<ClassifiedPrefix>,
    /// Distinct remote sets.
    pub(super) sets: Vec<Vec<u32>>,
}

/// Classifies `(prefix, remote index)` pairs; see the module docs.
pub(super) fn classify(mut members: Vec<(AddressPrefix, u32)>) -> Classification {
    if members.is_empty() {
        return Classification::default();
    }
    // Sorting by (network, len) is a pre-order walk of the prefix trie: ancestors come first.
    members.sort_unstable();
    members.dedup();

    let mut out = Classification::default();
    let mut set_ids: HashMap<Vec<u32>, usize> = HashMap::new();
    let mut intern = |set: Vec<u32>, sets: &mut Vec<Vec<u32>>| -> usize {
        *set_ids.entry(set).or_insert_with_key(|set| {
            sets.push(set.clone());
            sets.len() - 1
        })
    };
    // The enclosing prefixes of the current one, innermost last, as indices into out.prefixes.
    let mut stack: Vec<usize> = Vec::new();
    let boundary = AddressPrefix::boundary();
    let mut boundary_seen = false;

    let mut i = 0;
    while i < members.len() || !boundary_seen {
        // Emit the boundary in its pre-order place, merged with an IPv4 /0 if there is one.
        let next_member = members.get(i).map(|(p, _)| *p);
        let prefix = match next_member {
            Some(p) if boundary_seen || p <= boundary => p,
            _ => boundary,
        };
        boundary_seen |= prefix == boundary;
        let mut own = Vec::new();
        while let Some((p, remote)) = members.get(i)
            && *p == prefix
        {
            own.push(*remote);
            i += 1;
        }

        while let Some(&top) = stack.last() {
            if out.prefixes[top].prefix.contains(&prefix) {
                break;
            }
            stack.pop();
        }
        let parent = stack.last().copied();
        let mut set = match parent {
            Some(p) if prefix != boundary => out.sets[out.prefixes[p].set].clone(),
            _ => Vec::new(),
        };
        set.extend(own);
        set.sort_unstable();
        set.dedup();
        let set = intern(set, &mut out.sets);
        out.prefixes.push(ClassifiedPrefix {
            prefix,
            family: prefix.family(),
            set,
            parent,
        });
        stack.push(out.prefixes.len() - 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: [u8; 4], len: u8) -> AddressPrefix {
        AddressPrefix::new(MAPPED_NETWORK | u128::from(u32::from_be_bytes(a)), 96 + len)
    }

    #[test]
    fn nested_prefixes_accumulate_their_ancestors_remotes() {
        let c = classify(vec![
            (v4([10, 0, 0, 0], 8), 0),
            (v4([10, 1, 0, 0], 16), 1),
            (v4([10, 1, 2, 3], 32), 2),
            (v4([192, 168, 0, 0], 16), 3),
        ]);
        let sets: Vec<(AddressPrefix, &[u32])> = c
            .prefixes
            .iter()
            .map(|p| (p.prefix, c.sets[p.set].as_slice()))
            .collect();
        assert_eq!(
            sets,
            vec![
                (AddressPrefix::boundary(), &[][..]),
                (v4([10, 0, 0, 0], 8), &[0][..]),
                (v4([10, 1, 0, 0], 16), &[0, 1][..]),
                (v4([10, 1, 2, 3], 32), &[0, 1, 2][..]),
                (v4([192, 168, 0, 0], 16), &[3][..]),
            ]
        );
        assert_eq!(c.prefixes[3].parent, Some(2));
        assert_eq!(c.prefixes[4].parent, Some(0));
    }

    #[test]
    fn ipv6_default_route_does_not_reach_ipv4() {
        let c = classify(vec![
            (AddressPrefix::new(0, 0), 7),
            (v4([1, 2, 3, 4], 32), 8),
        ]);
        let by_prefix: Vec<(u8, Family, &[u32])> = c
            .prefixes
            .iter()
            .map(|p| (p.prefix.len, p.family, c.sets[p.set].as_slice()))
            .collect();
        assert_eq!(
            by_prefix,
            vec![
                (0, Family::V6, &[7][..]),
                (96, Family::V4, &[][..]),
                (128, Family::V4, &[8][..]),
            ]
        );
    }
}
