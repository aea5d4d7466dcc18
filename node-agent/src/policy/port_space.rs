//! Port-space encoding: the fewest longest-prefix entries for one protocol of one remote class.
//!
//! Within one (class, protocol) the 16-bit port space (for ICMP: `type << 8 | code`) is cut into
//! segments, each allowed by one rule (the one the attribution order picks there) or denied.
//! [`encode`] writes that function as port prefixes under longest-prefix-match semantics with the
//! Optimal Routing Table Constructor (Draves et al., 1999), adapted to a table that cannot write
//! "deny": a prefix may only carry a rule if no port below it is denied, so denied ports always
//! fall through to a miss. Entries may overlap; the longest one wins, and it always names the rule
//! the attribution order picks for the port.
//!
//! A rule `1024-65535` alone is 6 prefixes; ranges at worst cost 30; `all ports` under a lone
//! `all` rule costs nothing at all (the class-wide entry answers).

/// A run of ports `lo..=hi` with the rule that allows them (`None` = denied).
pub(super) type Segment = (u32, u32, Option<u32>);

/// One entry: `(first port, prefix bits 0..=16, rule id)`.
pub(super) type PortEntry = (u16, u8, u32);

/// A node of the binary trie over ports, pruned where the function is constant.
struct Node {
    /// First port of the node's range.
    lo: u32,
    /// Prefix bits.
    bits: u8,
    /// ORTC's candidate rules (sorted); `None` when some port below is denied.
    candidates: Option<Vec<u32>>,
    /// Both halves, unless the whole range has one value.
    children: Option<Box<[Node; 2]>>,
}

/// Encodes `segments` (sorted, disjoint, covering `0..=65535`, adjacent ones with different
/// values) as port-prefix entries under a parent entry that already allows `inherited` (the
/// class-wide `all` rule, if any). Deterministic: ties go to the lowest rule id.
pub(super) fn encode(segments: &[Segment], inherited: Option<u32>) -> Vec<PortEntry> {
    debug_assert_eq!(segments.first().map(|s| s.0), Some(0));
    debug_assert_eq!(segments.last().map(|s| s.1), Some(0xffff));
    let root = build(segments, 0, 0);
    let mut out = Vec::new();
    assign(&root, inherited, &mut out);
    out
}

/// ORTC pass 1 and 2: the trie, and bottom-up candidate sets (intersection if not empty, else union).
fn build(segments: &[Segment], lo: u32, bits: u8) -> Node {
    if let [(_, _, value)] = segments {
        return Node {
            lo,
            bits,
            candidates: value.map(|v| vec![v]),
            children: None,
        };
    }
    let mid = lo + (1 << (15 - bits));
    let left_end = segments.partition_point(|s| s.0 < mid);
    let right_start = segments.partition_point(|s| s.1 < mid);
    let left = build(&segments[..left_end], lo, bits + 1);
    let right = build(&segments[right_start..], mid, bits + 1);
    let candidates = match (&left.candidates, &right.candidates) {
        (Some(a), Some(b)) => {
            let both: Vec<u32> = a
                .iter()
                .filter(|v| b.binary_search(v).is_ok())
                .copied()
                .collect();
            if both.is_empty() {
                let mut either: Vec<u32> = a.iter().chain(b).copied().collect();
                either.sort_unstable();
                either.dedup();
                Some(either)
            } else {
                Some(both)
            }
        }
        _ => None,
    };
    Node {
        lo,
        bits,
        candidates,
        children: Some(Box::new([left, right])),
    }
}

/// ORTC pass 3: top-down, keep what the parent gives when it is a candidate, else write an entry.
fn assign(node: &Node, inherited: Option<u32>, out: &mut Vec<PortEntry>) {
    let chosen = match &node.candidates {
        // Some port below is denied: nothing above may cover it.
        None => {
            debug_assert!(inherited.is_none(), "a denied port under an allowing entry");
            inherited
        }
        Some(candidates) => match inherited {
            Some(rule) if candidates.binary_search(&rule).is_ok() => Some(rule),
            _ => {
                let rule = candidates[0];
                out.push((node.lo as u16, node.bits, rule));
                Some(rule)
            }
        },
    };
    if let Some(children) = &node.children {
        for child in children.iter() {
            assign(child, chosen, out);
        }
    }
}

/// Cuts the port space among rules given in attribution order (best first): each rule takes the
/// ports of `lo..=hi` no better rule took. Returns segments as [`encode`] wants them.
pub(super) fn paint(ranges_in_order: impl IntoIterator<Item = (u32, u32, u32)>) -> Vec<Segment> {
    use std::collections::BTreeMap;
    // Unclaimed runs: start -> end.
    let mut free: BTreeMap<u32, u32> = BTreeMap::from([(0, 0xffff)]);
    let mut claimed: Vec<Segment> = Vec::new();
    for (lo, hi, rule) in ranges_in_order {
        if free.is_empty() {
            break;
        }
        let overlapping: Vec<(u32, u32)> = free
            .range(..=hi)
            .rev()
            .take_while(|(_, end)| **end >= lo)
            .map(|(s, e)| (*s, *e))
            .collect();
        for (start, end) in overlapping {
            free.remove(&start);
            if start < lo {
                free.insert(start, lo - 1);
            }
            if end > hi {
                free.insert(hi + 1, end);
            }
            claimed.push((start.max(lo), end.min(hi), Some(rule)));
        }
    }
    claimed.extend(free.into_iter().map(|(s, e)| (s, e, None)));
    claimed.sort_unstable();
    let mut merged: Vec<Segment> = Vec::with_capacity(claimed.len());
    for seg in claimed {
        match merged.last_mut() {
            Some(last) if last.2 == seg.2 && last.1 + 1 == seg.0 => last.1 = seg.1,
            _ => merged.push(seg),
        }
    }
    merged
}

/// Splits `lo..=hi` into the prefixes that cover it exactly (for tests).
#[cfg(test)]
pub(super) fn range_prefixes(lo: u32, hi: u32) -> Vec<(u16, u8)> {
    let mut out = Vec::new();
    let mut start = lo;
    while start <= hi {
        let mut size_bits = if start == 0 {
            16
        } else {
            start.trailing_zeros().min(16)
        };
        while start + (1 << size_bits) - 1 > hi {
            size_bits -= 1;
        }
        out.push((start as u16, 16 - size_bits as u8));
        start += 1 << size_bits;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(entries: &[PortEntry], port: u16) -> Option<u32> {
        entries
            .iter()
            .filter(|(v, bits, _)| *bits == 0 || (port ^ v) >> (16 - bits) == 0)
            .max_by_key(|(_, bits, _)| *bits)
            .map(|e| e.2)
    }

    #[test]
    fn a_range_from_1024_is_six_prefixes() {
        assert_eq!(range_prefixes(1024, 65535).len(), 6);
        let entries = encode(&paint([(1024, 65535, 2000)]), None);
        assert_eq!(entries.len(), 6);
        assert_eq!(lookup(&entries, 1023), None);
        assert_eq!(lookup(&entries, 1024), Some(2000));
        assert_eq!(lookup(&entries, 65535), Some(2000));
    }

    #[test]
    fn worst_range_is_thirty_prefixes() {
        assert_eq!(range_prefixes(1, 65534).len(), 30);
        assert_eq!(encode(&paint([(1, 65534, 2000)]), None).len(), 30);
    }

    #[test]
    fn an_exception_inside_a_wider_rule_overlaps_instead_of_splitting() {
        // 80 by rule 1, every other port by rule 2: two entries, not 32.
        let entries = encode(&paint([(80, 80, 1), (0, 65535, 2)]), None);
        assert_eq!(entries, vec![(0, 0, 2), (80, 16, 1)]);
    }

    #[test]
    fn what_the_parent_allows_costs_nothing() {
        assert!(encode(&paint([(0, 65535, 7)]), Some(7)).is_empty());
        let entries = encode(&paint([(22, 22, 1), (0, 65535, 7)]), Some(7));
        assert_eq!(entries, vec![(22, 16, 1)]);
    }

    #[test]
    fn encoding_agrees_with_segments_on_every_port() {
        let segments = paint([
            (1000, 1999, 5),
            (0, 1, 4),
            (1023, 1024, 3),
            (65535, 65535, 9),
        ]);
        let entries = encode(&segments, None);
        for (lo, hi, value) in segments {
            for port in lo..=hi {
                assert_eq!(lookup(&entries, port as u16), value, "port {port}");
            }
        }
    }
}
