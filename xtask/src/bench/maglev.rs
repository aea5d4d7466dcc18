//! `cargo xtask bench maglev`: how well the weighted Maglev tables of `nlb::maglev` keep flows in
//! place and spread them (issue 5, acceptance).
//!
//! For N = 3, 10, 100 and 1000 equal-weight backends, on a table of the size the rule picks
//! (`nlb::maglev::table_size_for`: 65,537 up to 655 backends, 131,071 for 1000), it measures:
//! - `disruption_ratio`: the fraction of slots remapped when one backend leaves, divided by the
//!   ideal `1/N`; averaged over up to [`REMOVALS`] removed backends spread over the id order;
//! - `moved_between_survivors`: the fraction of slots that moved from one surviving backend to
//!   another (averaged the same way; the worst removal is recorded too);
//! - `max_over_avg_share`: the largest backend's slots over the average (and the smallest's);
//! - `weighted_share_error`: with weights 1, 2, 3, 4 cycled over the N backends, the largest
//!   `|slots / expected - 1|`;
//! - `generation_ms`: median time to build the equal-weight table over [`TIMING_REPEATS`] builds
//!   (the figure depends on the build profile, which is recorded).
//!
//! The default population (`Population::Turns`, the paper's algorithm: exact weighted shares) is
//! measured against the targets; the bounded-load variant (`Population::BoundedLoad`: fewer slots
//! move, but shares can fall several percent short of the weights) side by side in the same run,
//! under `bounded_load`.
//! Results go to `target/bench/maglev.json` and a short table is printed. Backend ids are
//! UUID-like values from a fixed splitmix64 sequence, so every run measures the same tables.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use nlb::maglev::{Backend, MaglevTable, Population, diff, table_size_for};
use serde_json::{Value, json};

/// Backend counts measured.
pub const BACKEND_COUNTS: [usize; 4] = [3, 10, 100, 1000];
/// At most this many different backends are removed, one at a time, per N; figures are averaged.
pub const REMOVALS: usize = 10;
/// Builds timed per N; the median is reported.
pub const TIMING_REPEATS: usize = 11;
/// Weights cycled over the backends for `weighted_share_error`.
pub const WEIGHT_MIX: [u32; 4] = [1, 2, 3, 4];
/// Target: `disruption_ratio` at most this.
pub const TARGET_DISRUPTION_RATIO: f64 = 1.1;
/// Target: `moved_between_survivors` at most this.
pub const TARGET_MOVED_BETWEEN_SURVIVORS: f64 = 0.01;
/// Target: `max_over_avg_share` at most this.
pub const TARGET_MAX_OVER_AVG_SHARE: f64 = 1.01;

/// Figures for one N and one population.
#[derive(Debug, Clone, Copy)]
struct Figures {
    disruption_ratio: f64,
    moved_between_survivors: f64,
    worst_moved_between_survivors: f64,
    max_over_avg_share: f64,
    min_over_avg_share: f64,
    weighted_share_error: f64,
    generation_ms: f64,
}

impl Figures {
    fn met(&self) -> [(&'static str, bool); 3] {
        [
            (
                "disruption_ratio",
                self.disruption_ratio <= TARGET_DISRUPTION_RATIO,
            ),
            (
                "moved_between_survivors",
                self.moved_between_survivors <= TARGET_MOVED_BETWEEN_SURVIVORS,
            ),
            (
                "max_over_avg_share",
                self.max_over_avg_share <= TARGET_MAX_OVER_AVG_SHARE,
            ),
        ]
    }

    fn to_json(self) -> Value {
        let met: serde_json::Map<String, Value> = self
            .met()
            .iter()
            .map(|(name, ok)| (name.to_string(), Value::Bool(*ok)))
            .collect();
        json!({
            "disruption_ratio": self.disruption_ratio,
            "moved_between_survivors": self.moved_between_survivors,
            "worst_moved_between_survivors": self.worst_moved_between_survivors,
            "max_over_avg_share": self.max_over_avg_share,
            "min_over_avg_share": self.min_over_avg_share,
            "weighted_share_error": self.weighted_share_error,
            "generation_ms": self.generation_ms,
            "met": met,
        })
    }
}

/// Runs the suite, writes `target/bench/maglev.json` and prints a table.
pub fn run() -> Result<()> {
    let mut results = Vec::new();
    let mut rows = Vec::new();
    let mut all_met = true;
    for n in BACKEND_COUNTS {
        let size = table_size_for(n)?;
        let ours = measure(n, size, Population::Turns)?;
        let paper = measure(n, size, Population::BoundedLoad)?;
        all_met &= ours.met().iter().all(|(_, ok)| *ok);
        let mut entry = ours.to_json();
        entry["n"] = json!(n);
        entry["table_size"] = json!(size);
        entry["slots_per_backend"] = json!(f64::from(size) / n as f64);
        entry["bounded_load"] = paper.to_json();
        results.push(entry);
        rows.push((n, size, ours, paper));
    }

    let report = json!({
        "suite": "maglev",
        "population": "paper turns (nlb::maglev::Population::Turns, Eisenbud et al. 2016; the default)",
        "compared_with": "bounded_load (nlb::maglev::Population::BoundedLoad)",
        "build_profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "removals_averaged": REMOVALS,
        "timing_repeats": TIMING_REPEATS,
        "weight_mix": WEIGHT_MIX,
        "targets": {
            "disruption_ratio": TARGET_DISRUPTION_RATIO,
            "moved_between_survivors": TARGET_MOVED_BETWEEN_SURVIVORS,
            "max_over_avg_share": TARGET_MAX_OVER_AVG_SHARE,
        },
        "all_targets_met": all_met,
        "results": results,
    });
    let dir = bench_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("maglev.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;

    println!(
        "{:>5} {:>8} | {:>10} {:>10} {:>9} {:>9} {:>9} | {:>10} {:>10} {:>9} {:>9}",
        "N",
        "M",
        "disrupt",
        "moved",
        "max/avg",
        "w-err",
        "gen ms",
        "bounded:dis",
        "moved",
        "max/avg",
        "w-err"
    );
    for (n, size, ours, paper) in &rows {
        let flag = |ok: bool| if ok { ' ' } else { '!' };
        let met = ours.met();
        println!(
            "{:>5} {:>8} | {:>9.4}{} {:>9.5}{} {:>8.4}{} {:>9.4} {:>9.2} | {:>10.4} {:>10.5} {:>9.4} {:>9.4}",
            n,
            size,
            ours.disruption_ratio,
            flag(met[0].1),
            ours.moved_between_survivors,
            flag(met[1].1),
            ours.max_over_avg_share,
            flag(met[2].1),
            ours.weighted_share_error,
            ours.generation_ms,
            paper.disruption_ratio,
            paper.moved_between_survivors,
            paper.max_over_avg_share,
            paper.weighted_share_error,
        );
    }
    println!(
        "targets: disruption <= {TARGET_DISRUPTION_RATIO}, moved <= {TARGET_MOVED_BETWEEN_SURVIVORS}, \
         max/avg <= {TARGET_MAX_OVER_AVG_SHARE} ('!' = missed); all met: {all_met}"
    );
    println!("wrote {}", path.display());
    Ok(())
}

/// Measures one N on a table of `size` slots with one population.
fn measure(n: usize, size: u32, population: Population) -> Result<Figures> {
    let equal = backends(n, &[1]);
    let full = MaglevTable::build_with(&equal, size, population)?;

    let removals = n.min(REMOVALS);
    let (mut remapped, mut moved, mut worst_moved) = (0.0, 0.0, 0.0f64);
    for k in 0..removals {
        let mut rest = equal.clone();
        rest.remove(k * n / removals);
        let fewer = MaglevTable::build_with(&rest, size, population)?;
        let d = diff(&full, &fewer)?;
        remapped += d.remapped_fraction();
        moved += d.between_survivors_fraction();
        worst_moved = worst_moved.max(d.between_survivors_fraction());
    }
    let shares = full.share_stats();
    let weighted = MaglevTable::build_with(&backends(n, &WEIGHT_MIX), size, population)?;

    let mut times: Vec<f64> = (0..TIMING_REPEATS)
        .map(|_| {
            let start = Instant::now();
            let table = MaglevTable::build_with(&equal, size, population);
            let elapsed = start.elapsed().as_secs_f64() * 1e3;
            std::hint::black_box(table).map(|_| elapsed)
        })
        .collect::<Result<_, _>>()?;
    times.sort_by(f64::total_cmp);

    Ok(Figures {
        disruption_ratio: remapped / removals as f64 * n as f64,
        moved_between_survivors: moved / removals as f64,
        worst_moved_between_survivors: worst_moved,
        max_over_avg_share: shares.max_over_expected,
        min_over_avg_share: shares.min_over_expected,
        weighted_share_error: weighted.share_stats().max_relative_error,
        generation_ms: times[times.len() / 2],
    })
}

/// `n` backends with UUID-like ids (splitmix64 of the index) and `weights` cycled.
fn backends(n: usize, weights: &[u32]) -> Vec<Backend> {
    let mix = |mut x: u64| {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    };
    (0..n)
        .map(|i| {
            let id = (u128::from(mix(2 * i as u64)) << 64) | u128::from(mix(2 * i as u64 + 1));
            Backend::new(id, weights[i % weights.len()])
        })
        .collect()
}

/// `target/bench` of the workspace: under `CARGO_TARGET_DIR` when set, else `<workspace>/target`.
fn bench_dir() -> PathBuf {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    };
    target.join("bench")
}
