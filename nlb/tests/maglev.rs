//! Unit tests of the weighted Maglev table through the public API (pure: no privileges).

use nlb::Error;
use nlb::maglev::{
    Backend, DEFAULT_TABLE_SIZE, MaglevTable, Population, TABLE_SIZES, diff, is_prime,
    remapped_fraction, table_size_for,
};
use nlb::siphash::siphash24;

const POPULATIONS: [Population; 2] = [Population::BoundedLoad, Population::Turns];

/// `n` backends with UUID-like ids (splitmix64 of the index) and the given weights, cycled.
fn backends(n: usize, weights: &[u32]) -> Vec<Backend> {
    (0..n)
        .map(|i| {
            let mix = |mut x: u64| {
                x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
                x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                x ^ (x >> 31)
            };
            let id = (u128::from(mix(2 * i as u64)) << 64) | u128::from(mix(2 * i as u64 + 1));
            Backend::new(id, weights[i % weights.len()])
        })
        .collect()
}

fn build(backends: &[Backend], population: Population) -> MaglevTable {
    MaglevTable::build_with(backends, DEFAULT_TABLE_SIZE, population).expect("valid input")
}

#[test]
fn same_input_same_table_whatever_the_order() {
    for population in POPULATIONS {
        let list = backends(10, &[1, 2, 3]);
        let table = build(&list, population);
        assert_eq!(table, build(&list, population));
        let mut reversed = list.clone();
        reversed.reverse();
        let mut rotated = list.clone();
        rotated.rotate_left(4);
        assert_eq!(table, build(&reversed, population), "{population:?}");
        assert_eq!(table, build(&rotated, population), "{population:?}");
        let ids: Vec<u128> = table.backends().iter().map(|b| b.id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "backends sorted by id");
    }
}

/// Pins the exact tables, so that a change to the hash or the algorithm (which would make nodes
/// of different versions disagree) cannot go unnoticed. Update only on purpose.
#[test]
fn tables_are_pinned() {
    let list = backends(7, &[1, 2, 0, 3]);
    let fingerprint = |population| {
        let bytes: Vec<u8> = build(&list, population)
            .slots()
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        siphash24(&[0; 16], &bytes)
    };
    assert_eq!(
        fingerprint(Population::BoundedLoad),
        9_848_420_302_718_175_134
    );
    assert_eq!(fingerprint(Population::Turns), 6_788_735_936_999_428_266);
}

#[test]
fn every_slot_goes_to_a_backend_with_weight() {
    for population in POPULATIONS {
        let list = backends(50, &[1, 0, 4, 2]);
        let table = build(&list, population);
        assert_eq!(table.slots().len(), DEFAULT_TABLE_SIZE as usize);
        let backends = table.backends();
        for &slot in table.slots() {
            assert!((slot as usize) < backends.len());
            assert!(!backends[slot as usize].is_draining());
        }
        for share in table.shares() {
            assert_eq!(share.slots == 0, share.backend.is_draining(), "{share:?}");
        }
    }
}

#[test]
fn draining_keeps_indices_and_moves_only_its_own_slots() {
    for population in POPULATIONS {
        let list = backends(10, &[1]);
        let before = build(&list, population);
        let mut drained = list.clone();
        drained[3].weight = 0;
        let after = build(&drained, population);
        assert_eq!(
            before.backends().iter().map(|b| b.id).collect::<Vec<_>>(),
            after.backends().iter().map(|b| b.id).collect::<Vec<_>>()
        );
        let d = diff(&before, &after).unwrap();
        let drained_slots = before
            .shares()
            .iter()
            .find(|s| s.backend.id == list[3].id)
            .unwrap()
            .slots;
        assert_eq!(d.from_departed, drained_slots);
        assert_eq!(d.to_arrived, 0);
        assert!(
            d.between_survivors_fraction() <= 0.01,
            "{population:?} {d:?}"
        );
    }
}

#[test]
fn equal_weights_share_evenly() {
    for population in POPULATIONS {
        for n in [1, 2, 3, 10, 100, 655] {
            let table = build(&backends(n, &[7]), population);
            let stats = table.share_stats();
            assert!(
                stats.max_over_expected <= 1.01,
                "{population:?} n={n} {stats:?}"
            );
            // Turns gives exact shares; BoundedLoad may leave a backend a few percent short when
            // there are only ~100 slots per backend.
            let floor = match population {
                Population::Turns => 0.99,
                Population::BoundedLoad => 0.85,
            };
            assert!(
                stats.min_over_expected >= floor,
                "{population:?} n={n} {stats:?}"
            );
        }
    }
}

#[test]
fn shares_follow_weights() {
    let list = backends(12, &[1, 2, 3, 4]);
    let turns = build(&list, Population::Turns);
    for share in turns.shares() {
        assert!(
            (f64::from(share.slots) - share.expected).abs() <= 1.0,
            "turns: within one slot: {share:?}"
        );
    }
    let bounded = build(&list, Population::BoundedLoad).share_stats();
    assert!(bounded.max_over_expected <= 1.01, "{bounded:?}");
    assert!(bounded.max_relative_error <= 0.03, "{bounded:?}");
    // The lab's split: three backends weighted 1, 2, 3.
    let lab = build(&backends(3, &[1, 2, 3]), Population::default()).share_stats();
    assert!(lab.max_relative_error <= 0.01, "{lab:?}");
}

#[test]
fn removing_one_of_n_remaps_about_one_nth() {
    for population in POPULATIONS {
        for n in [3, 10, 50] {
            let list = backends(n, &[1]);
            let full = build(&list, population);
            for gone in [0, n / 2, n - 1] {
                let mut rest = list.clone();
                rest.remove(gone);
                let fewer = build(&rest, population);
                let d = diff(&full, &fewer).unwrap();
                let fraction = remapped_fraction(&full, &fewer).unwrap();
                assert_eq!(fraction, d.remapped_fraction());
                let ideal = 1.0 / n as f64;
                assert!(
                    fraction >= ideal * 0.98 && fraction <= ideal * 1.35,
                    "{population:?} n={n}: remapped {fraction}, ideal {ideal}"
                );
                assert!(d.between_survivors_fraction() <= 0.01, "{d:?}");
                // Adding it back is the exact inverse.
                let d_back = diff(&fewer, &full).unwrap();
                assert_eq!(d_back.changed, d.changed);
                assert_eq!(d_back.to_arrived, d.from_departed);
            }
        }
    }
}

#[test]
fn lookup_is_slot_of_hash_mod_size() {
    let table = build(&backends(5, &[1]), Population::default());
    for hash in [0u32, 1, 65_536, 65_537, 65_538, u32::MAX] {
        let slot = table.slots()[hash as usize % DEFAULT_TABLE_SIZE as usize];
        assert_eq!(table.lookup(hash), &table.backends()[slot as usize]);
    }
}

#[test]
fn table_sizes_are_primes_chosen_by_backend_count() {
    assert!(TABLE_SIZES.iter().all(|&size| is_prime(size)));
    assert!(TABLE_SIZES.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(TABLE_SIZES[0], DEFAULT_TABLE_SIZE);
    assert!(!is_prime(0) && !is_prime(1) && is_prime(2) && !is_prime(65_536));
    assert_eq!(table_size_for(0).unwrap(), 65_537);
    assert_eq!(table_size_for(3).unwrap(), 65_537);
    assert_eq!(table_size_for(655).unwrap(), 65_537);
    assert_eq!(table_size_for(656).unwrap(), 131_071);
    assert_eq!(table_size_for(1000).unwrap(), 131_071);
    assert_eq!(table_size_for(41_943).unwrap(), 4_194_301);
    assert!(matches!(
        table_size_for(41_944),
        Err(Error::NoTableSizeLargeEnough {
            backends: 41_944,
            needed: 4_194_400,
            largest: 4_194_301
        })
    ));
}

#[test]
fn invalid_input_is_refused() {
    assert_eq!(
        MaglevTable::build(&[], DEFAULT_TABLE_SIZE),
        Err(Error::NoActiveBackend { backends: 0 })
    );
    assert_eq!(
        MaglevTable::build(&backends(3, &[0]), DEFAULT_TABLE_SIZE),
        Err(Error::NoActiveBackend { backends: 3 })
    );
    assert_eq!(
        MaglevTable::build(&backends(3, &[1]), 65_536),
        Err(Error::TableSizeNotPrime { size: 65_536 })
    );
    assert_eq!(
        MaglevTable::build(&backends(656, &[1]), DEFAULT_TABLE_SIZE),
        Err(Error::TooManyBackends {
            backends: 656,
            size: 65_537,
            needed: 65_600
        })
    );
    // Draining backends count towards the size, so draining never changes it.
    assert!(matches!(
        MaglevTable::build(&backends(656, &[1, 0]), DEFAULT_TABLE_SIZE),
        Err(Error::TooManyBackends { .. })
    ));
    let mut twice = backends(3, &[1]);
    twice[2].id = twice[0].id;
    assert_eq!(
        MaglevTable::build(&twice, DEFAULT_TABLE_SIZE),
        Err(Error::DuplicateBackend { id: twice[0].id })
    );
    let small = MaglevTable::build(&backends(3, &[1]), 307).unwrap();
    let large = MaglevTable::build(&backends(3, &[1]), DEFAULT_TABLE_SIZE).unwrap();
    assert_eq!(
        remapped_fraction(&small, &large),
        Err(Error::TableSizeMismatch {
            old: 307,
            new: 65_537
        })
    );
    // Messages say what to do.
    let message = MaglevTable::build(&backends(3, &[1]), 65_536)
        .unwrap_err()
        .to_string();
    assert!(message.contains("table_size_for"), "{message}");
}

#[test]
fn extreme_weights_terminate_and_stay_proportional() {
    let list = vec![
        Backend::new(1, u32::MAX),
        Backend::new(2, 1),
        Backend::new(3, u32::MAX / 2),
    ];
    for population in POPULATIONS {
        let table = build(&list, population);
        let shares = table.shares();
        assert!(shares[1].slots <= 1, "{population:?} {shares:?}");
        for heavy in [&shares[0], &shares[2]] {
            let ratio = f64::from(heavy.slots) / heavy.expected;
            assert!((0.99..=1.01).contains(&ratio), "{population:?} {heavy:?}");
        }
    }
}
