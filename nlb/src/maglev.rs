//! Weighted Maglev lookup tables (Eisenbud et al., "Maglev: A Fast and Reliable Software Network
//! Load Balancer", NSDI 2016, section 3.4), as pure, deterministic functions.
//!
//! # What the table is
//! A [`MaglevTable`] of prime size `M` maps every slot `0..M` to the index of a backend in
//! [`MaglevTable::backends`]. The dataplane hashes a flow's 5-tuple to `h` and sends the flow to
//! `backends[slots[h % M]]`; the slots (`Vec<u32>`) are what the LB nodes' map holds, the backend
//! list is what their backend array holds, in the same order.
//!
//! # Determinism (every node computes the same table)
//! The table depends only on the *set* of `(id, weight)` pairs and on `M`:
//! - backends are sorted by id before anything else, so the order in which the caller lists them
//!   does not matter; slot values index that sorted list;
//! - each backend's preference list (the paper's permutation: `offset + j * skip mod M`) comes from
//!   SipHash-2-4 of the id's 16 big-endian bytes (the UUID's byte order) under two fixed keys, the
//!   ASCII strings `"sdn-maglev-offst"` (offset) and `"sdn-maglev-skip!"` (skip); see
//!   [`crate::siphash`] for why this hash;
//! - only integer arithmetic decides anything (no floats, no `RandomState`, no iteration over hash
//!   maps), so the result is the same on every architecture and Rust version.
//!
//! # Weights
//! Weight `0` means draining: the backend stays in [`MaglevTable::backends`] (so the indices of the
//! others do not move and its established flows can still be found) but owns no slot. Otherwise a
//! backend advances through its preference list at a speed proportional to its weight: backend `i`
//! makes its `k`-th move at virtual time `k / w_i` (ties go to the lower index), the paper's
//! weighted variant done with exact rational times instead of a per-round counter.
//!
//! # Two ways to populate ([`Population`])
//! - [`Population::Turns`], the paper's algorithm: at each move a backend claims the next *free*
//!   slot of its preference list. Every backend ends with its exact share (`M * w / W`, within one
//!   slot), but when a backend leaves, the order in which the survivors claim slots shifts, and
//!   slots move between survivors.
//! - [`Population::BoundedLoad`] (the default): at each move a backend *looks at* the next slot of
//!   its preference list and claims it only if it is still free, until it holds its cap of
//!   `max(ceil(M w / W), floor(M w / W * MAX_LOAD_PERMYRIAD / 10000))` slots. Without the cap this
//!   is weighted rendezvous hashing (each slot goes to the backend that reaches it first, so a
//!   departure moves only the departed backend's slots); the cap keeps the largest share within 1%
//!   of its expected value. Departures disturb survivors only through the cap, so fewer slots move
//!   between survivors; the price is that a backend may end *below* its expected share.
//!
//! Measured by `cargo xtask bench maglev` (equal weights; remapped fraction on one departure over
//! `1/N`; smallest share over average; worst share error with weights 1..=4):
//!
//! | N    | M       | BoundedLoad: disruption, min share, weighted error | Turns: same |
//! |------|---------|----------------------------------------------------|-------------|
//! | 3    | 65,537  | 1.000, 0.9998, 0.04%                               | 1.000, 0.99997, 0.01% |
//! | 10   | 65,537  | 1.003, 0.993, 1.8%                                 | 1.023, 0.9999, 0.02% |
//! | 100  | 65,537  | 1.168, 0.931, 6.3%                                 | 1.574, 0.999, 0.07% |
//! | 1000 | 131,071 | 2.171, 0.870, 23.7%                                | 6.443, 0.9995, 0.8% |
//!
//! Both keep the largest share within 1% of the average and move under 0.6% of the slots between
//! survivors. Neither reaches a disruption ratio of 1.1 at 100 slots per backend or so: with that
//! few slots per backend, exact balance leaves no room to absorb a departed backend's slots
//! without moving others'. A larger `M` per backend is what helps there.
//!
//! # Table size
//! `M` must be prime (so every `skip` in `1..M` generates a full permutation) and at least
//! [`MIN_SLOTS_PER_BACKEND`] times the number of backends, draining ones included (so that draining
//! a backend never changes `M`, which would rehash every flow). [`table_size_for`] picks the
//! smallest size from [`TABLE_SIZES`] that fits; [`DEFAULT_TABLE_SIZE`] serves up to 655 backends.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::error::{Error, Result};
use crate::siphash::siphash24;

/// A backend's stable identity: the UUID of its port as a `u128` (what `uuid::Uuid::as_u128`
/// returns; hashed as its 16 big-endian bytes, i.e. the UUID's own byte order).
pub type BackendId = u128;

/// The table size used unless the backend count needs more: a prime, 2^16 + 1.
pub const DEFAULT_TABLE_SIZE: u32 = 65_537;

/// A table has at least this many slots per backend (draining ones included), so that each
/// backend's share can be close to its weight and a change moves few flows.
pub const MIN_SLOTS_PER_BACKEND: u64 = 100;

/// The table sizes [`table_size_for`] chooses from: primes, each about twice the previous one
/// (2^16 + 1, then the largest primes below 2^17 .. 2^22). The largest serves 41,943 backends and
/// takes 16 MiB as a map of `u32`.
pub const TABLE_SIZES: [u32; 7] = [
    65_537, 131_071, 262_139, 524_287, 1_048_573, 2_097_143, 4_194_301,
];

/// [`Population::BoundedLoad`] caps each backend at this many ten-thousandths of its expected
/// share (rounded down, but never below the expected share rounded up): 1.0099, so that the
/// largest share stays within 1% of the expected one.
pub const MAX_LOAD_PERMYRIAD: u64 = 10_099;

const OFFSET_KEY: [u8; 16] = *b"sdn-maglev-offst";
const SKIP_KEY: [u8; 16] = *b"sdn-maglev-skip!";
const EMPTY: u32 = u32::MAX;

/// One backend of a service: its stable id and its weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Backend {
    /// Stable identity (the backend port's UUID); decides the backend's preference list.
    pub id: BackendId,
    /// Relative weight; `0` = draining (keeps its index, takes no slot).
    pub weight: u32,
}

impl Backend {
    /// A backend with this id and weight.
    pub fn new(id: BackendId, weight: u32) -> Self {
        Self { id, weight }
    }

    /// Whether the backend is draining (weight 0: no new flows).
    pub fn is_draining(&self) -> bool {
        self.weight == 0
    }
}

/// How slots are handed out; see the [module documentation](self) for the trade-off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Population {
    /// Each move looks at one preferred slot and claims it if free, up to a load cap of
    /// [`MAX_LOAD_PERMYRIAD`]: fewer slots move between survivors on a change; shares are at most
    /// 1% above expected and may be a few percent below.
    BoundedLoad,
    /// The paper's algorithm: each move claims the next free preferred slot. Exact shares; more
    /// slots move between survivors on a change. The default: weights are what customers set,
    /// and established flows stay on their backend through conntrack whatever the table does.
    #[default]
    Turns,
}

/// A Maglev lookup table: slot → index into [`backends`](Self::backends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaglevTable {
    backends: Vec<Backend>,
    slots: Vec<u32>,
}

/// How many slots one backend owns, next to what its weight entitles it to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackendShare {
    /// The backend.
    pub backend: Backend,
    /// Slots it owns.
    pub slots: u32,
    /// Slots its weight entitles it to: `M * weight / total weight` (0 when draining).
    pub expected: f64,
}

/// How closely a table's shares follow the weights (over backends with weight > 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShareStats {
    /// Largest `slots / expected`; with equal weights this is the largest share over the average.
    pub max_over_expected: f64,
    /// Smallest `slots / expected`.
    pub min_over_expected: f64,
    /// Largest `|slots / expected - 1|`.
    pub max_relative_error: f64,
}

/// What changed between two tables of the same size, slot by slot, by backend id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableDiff {
    /// Table size.
    pub slots: u32,
    /// Slots whose backend changed.
    pub changed: u32,
    /// Changed slots whose old backend owns no slot in the new table (it left or drains).
    pub from_departed: u32,
    /// Changed slots whose new backend owned no slot in the old table (it arrived or came back).
    pub to_arrived: u32,
    /// Changed slots whose old and new backends both own slots in both tables: flows moved
    /// between backends that stayed, which a perfect consistent hash would never do.
    pub between_survivors: u32,
}

impl TableDiff {
    /// Fraction of slots whose backend changed.
    pub fn remapped_fraction(&self) -> f64 {
        f64::from(self.changed) / f64::from(self.slots)
    }

    /// Fraction of slots that moved between backends that stayed.
    pub fn between_survivors_fraction(&self) -> f64 {
        f64::from(self.between_survivors) / f64::from(self.slots)
    }
}

/// Whether `n` is prime (trial division; `n` is at most a few million here).
pub fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    if n.is_multiple_of(2) {
        return n == 2;
    }
    let n = u64::from(n);
    let mut d = 3u64;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 2;
    }
    true
}

/// The smallest size in [`TABLE_SIZES`] with at least [`MIN_SLOTS_PER_BACKEND`] slots per backend.
/// Count every backend of the service, draining ones included.
pub fn table_size_for(backends: usize) -> Result<u32> {
    let needed = min_size(backends);
    TABLE_SIZES
        .iter()
        .copied()
        .find(|&size| u64::from(size) >= needed)
        .ok_or(Error::NoTableSizeLargeEnough {
            backends,
            needed,
            largest: TABLE_SIZES[TABLE_SIZES.len() - 1],
        })
}

fn min_size(backends: usize) -> u64 {
    MIN_SLOTS_PER_BACKEND.saturating_mul(backends as u64)
}

/// Compares two tables of the same size slot by slot (by backend id, so indices may differ).
pub fn diff(old: &MaglevTable, new: &MaglevTable) -> Result<TableDiff> {
    if old.size() != new.size() {
        return Err(Error::TableSizeMismatch {
            old: old.size(),
            new: new.size(),
        });
    }
    let old_active = old.owners();
    let new_active = new.owners();
    let mut out = TableDiff {
        slots: old.size(),
        changed: 0,
        from_departed: 0,
        to_arrived: 0,
        between_survivors: 0,
    };
    for (&a, &b) in old.slots.iter().zip(&new.slots) {
        let (a, b) = (old.backends[a as usize].id, new.backends[b as usize].id);
        if a == b {
            continue;
        }
        out.changed += 1;
        let departed = new_active.binary_search(&a).is_err();
        let arrived = old_active.binary_search(&b).is_err();
        out.from_departed += u32::from(departed);
        out.to_arrived += u32::from(arrived);
        out.between_survivors += u32::from(!departed && !arrived);
    }
    Ok(out)
}

/// Fraction of slots (so of new flows' hash space) whose backend changed from `old` to `new`; the
/// controller reports it on every backend change. Fails when the sizes differ (then every flow is
/// rehashed).
pub fn remapped_fraction(old: &MaglevTable, new: &MaglevTable) -> Result<f64> {
    diff(old, new).map(|d| d.remapped_fraction())
}

impl MaglevTable {
    /// Builds the table for `backends` with `size` slots and the default [`Population`].
    ///
    /// Fails when `size` is not prime, when it has fewer than [`MIN_SLOTS_PER_BACKEND`] slots per
    /// backend, when an id repeats, or when no backend has a weight above 0.
    pub fn build(backends: &[Backend], size: u32) -> Result<Self> {
        Self::build_with(backends, size, Population::default())
    }

    /// Builds the table with the given [`Population`]; otherwise as [`build`](Self::build).
    pub fn build_with(backends: &[Backend], size: u32, population: Population) -> Result<Self> {
        if !is_prime(size) {
            return Err(Error::TableSizeNotPrime { size });
        }
        let needed = min_size(backends.len());
        if u64::from(size) < needed {
            return Err(Error::TooManyBackends {
                backends: backends.len(),
                size,
                needed,
            });
        }
        let mut sorted = backends.to_vec();
        sorted.sort_unstable_by_key(|b| b.id);
        if let Some(pair) = sorted.windows(2).find(|pair| pair[0].id == pair[1].id) {
            return Err(Error::DuplicateBackend { id: pair[0].id });
        }
        if sorted.iter().all(Backend::is_draining) {
            return Err(Error::NoActiveBackend {
                backends: backends.len(),
            });
        }
        let slots = populate(&sorted, size, population);
        Ok(Self {
            backends: sorted,
            slots,
        })
    }

    /// Number of slots `M`.
    pub fn size(&self) -> u32 {
        self.slots.len() as u32
    }

    /// The slots: each holds an index into [`backends`](Self::backends).
    pub fn slots(&self) -> &[u32] {
        &self.slots
    }

    /// The slots, owned (what the dataplane map is filled from).
    pub fn into_slots(self) -> Vec<u32> {
        self.slots
    }

    /// The backends sorted by id, draining ones included; slot values index this list.
    pub fn backends(&self) -> &[Backend] {
        &self.backends
    }

    /// The backend a flow with this hash goes to (`backends[slots[hash % M]]`), as the dataplane
    /// picks it.
    pub fn lookup(&self, flow_hash: u32) -> &Backend {
        let slot = flow_hash as usize % self.slots.len();
        &self.backends[self.slots[slot] as usize]
    }

    /// Slots owned by each backend (in [`backends`](Self::backends) order) and what its weight
    /// entitles it to.
    pub fn shares(&self) -> Vec<BackendShare> {
        let mut counts = vec![0u32; self.backends.len()];
        for &slot in &self.slots {
            counts[slot as usize] += 1;
        }
        let total: u64 = self.backends.iter().map(|b| u64::from(b.weight)).sum();
        let size = f64::from(self.size());
        self.backends
            .iter()
            .zip(counts)
            .map(|(backend, slots)| BackendShare {
                backend: *backend,
                slots,
                expected: size * f64::from(backend.weight) / total as f64,
            })
            .collect()
    }

    /// How closely the shares follow the weights.
    pub fn share_stats(&self) -> ShareStats {
        let mut stats = ShareStats {
            max_over_expected: 0.0,
            min_over_expected: f64::INFINITY,
            max_relative_error: 0.0,
        };
        for share in self.shares().iter().filter(|s| !s.backend.is_draining()) {
            let ratio = f64::from(share.slots) / share.expected;
            stats.max_over_expected = stats.max_over_expected.max(ratio);
            stats.min_over_expected = stats.min_over_expected.min(ratio);
            stats.max_relative_error = stats.max_relative_error.max((ratio - 1.0).abs());
        }
        stats
    }

    /// Ids of the backends that own at least one slot, sorted.
    fn owners(&self) -> Vec<BackendId> {
        let mut owns = vec![false; self.backends.len()];
        for &slot in &self.slots {
            owns[slot as usize] = true;
        }
        self.backends
            .iter()
            .zip(owns)
            .filter_map(|(b, owns)| owns.then_some(b.id))
            .collect()
    }
}

/// The next move of one backend, at virtual time `time / weight`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Move {
    time: u64,
    weight: u64,
    index: u32,
}

impl Ord for Move {
    /// `BinaryHeap` pops the greatest, so the earliest time (then the lowest index) is greatest.
    fn cmp(&self, other: &Self) -> Ordering {
        let lhs = u128::from(self.time) * u128::from(other.weight);
        let rhs = u128::from(other.time) * u128::from(self.weight);
        rhs.cmp(&lhs).then(other.index.cmp(&self.index))
    }
}

impl PartialOrd for Move {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// `log2(x)` in fixed point with 32 fractional bits (truncated), for `x >= 1`, by repeated
/// squaring: integer-only, so every host gets the same bits.
fn log2_fixed(x: u64) -> u64 {
    let int = 63 - u64::from(x.leading_zeros());
    // `y` is `x / 2^int` in [1, 2), with 63 fractional bits.
    let mut y = u128::from(x) << (63 - int);
    let mut frac = 0u64;
    for bit in (0..32).rev() {
        y = (y * y) >> 63;
        if y >= 1 << 64 {
            y >>= 1;
            frac |= 1 << bit;
        }
    }
    (int << 32) | frac
}

/// Virtual time (before dividing by the weight) of a backend's look at position `j` of its
/// preference list in [`Population::BoundedLoad`]: `-log2(1 - j / m)`, in fixed point. Position
/// `j` of a random permutation is a uniform draw, and this turns it into an exponential one, so
/// that "earliest time / weight wins" gives each backend a share proportional to its weight (as in
/// weighted rendezvous hashing) rather than favouring heavy backends.
fn look_time(m: u64, j: u64) -> u64 {
    log2_fixed(m) - log2_fixed(m - j)
}

/// [`look_time`] for one table size, computed once per position (backends only look at the
/// first few thousand positions of their lists, and each time costs 32 wide multiplications).
struct LookTimes {
    m: u64,
    times: Vec<u64>,
}

impl LookTimes {
    fn get(&mut self, j: u64) -> u64 {
        while self.times.len() as u64 <= j {
            let next = look_time(self.m, self.times.len() as u64);
            self.times.push(next);
        }
        self.times[j as usize]
    }
}

/// Fills a table of `size` slots for `backends` (sorted by id, at least one with weight > 0).
fn populate(backends: &[Backend], size: u32, population: Population) -> Vec<u32> {
    let m = u64::from(size);
    let total_weight: u64 = backends.iter().map(|b| u64::from(b.weight)).sum();
    // Per backend: next position in its preference list (`offset + looks * skip mod m`), its
    // skip, how many positions it has looked at, how many moves it made, slots held, its cap.
    let mut next = vec![0u64; backends.len()];
    let mut skip = vec![0u64; backends.len()];
    let mut looks = vec![0u64; backends.len()];
    let mut moves = vec![0u64; backends.len()];
    let mut held = vec![0u64; backends.len()];
    let mut cap = vec![0u64; backends.len()];
    let mut heap = BinaryHeap::with_capacity(backends.len());
    for (index, backend) in backends.iter().enumerate() {
        if backend.is_draining() {
            continue;
        }
        let key = backend.id.to_be_bytes();
        next[index] = siphash24(&OFFSET_KEY, &key) % m;
        skip[index] = siphash24(&SKIP_KEY, &key) % (m - 1) + 1;
        let weight = u64::from(backend.weight);
        let expected = u128::from(m) * u128::from(weight);
        let exact_ceil = expected.div_ceil(u128::from(total_weight));
        let loose = expected * u128::from(MAX_LOAD_PERMYRIAD) / (u128::from(total_weight) * 10_000);
        cap[index] = exact_ceil.max(loose) as u64;
        let time = match population {
            Population::Turns => 1,
            Population::BoundedLoad => 0,
        };
        heap.push(Move {
            time,
            weight,
            index: index as u32,
        });
    }

    let mut look_times = LookTimes {
        m,
        times: Vec::new(),
    };
    let mut slots = vec![EMPTY; size as usize];
    let mut filled = 0u64;
    while let Some(mut mv) = heap.pop() {
        let i = mv.index as usize;
        // One look at the next position of the preference list; claims the slot if free.
        loop {
            let slot = next[i] as usize;
            next[i] = (next[i] + skip[i]) % m;
            looks[i] += 1;
            if slots[slot] == EMPTY {
                slots[slot] = mv.index;
                held[i] += 1;
                filled += 1;
                break;
            }
            // The paper's turn goes on until it claims a slot.
            if population == Population::BoundedLoad {
                break;
            }
        }
        if filled == m {
            break;
        }
        moves[i] += 1;
        match population {
            // Move k + 1 of a backend with weight w happens at time (k + 1) / w.
            Population::Turns => mv.time = moves[i] + 1,
            // An active backend never runs past its list: after one full pass every slot is taken.
            // The caps add up to at least `m`, so while a slot is free some backend is below its
            // cap and still looking.
            Population::BoundedLoad if held[i] < cap[i] => mv.time = look_times.get(looks[i]),
            Population::BoundedLoad => continue,
        }
        heap.push(mv);
    }
    slots
}

#[cfg(test)]
mod tests {
    use super::log2_fixed;

    #[test]
    fn fixed_point_log2_is_exact_on_powers_and_close_elsewhere() {
        for k in 0..64 {
            assert_eq!(log2_fixed(1 << k), k << 32);
        }
        for x in [3u64, 10, 65_537, 4_194_301, u64::MAX] {
            let approx = log2_fixed(x) as f64 / 4_294_967_296.0;
            assert!((approx - (x as f64).log2()).abs() < 1e-8, "{x}: {approx}");
        }
    }
}
