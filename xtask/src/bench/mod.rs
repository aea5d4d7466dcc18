//! Benchmarks: each suite writes `target/bench/<suite>.json` and prints a short table.

pub mod control_plane;
pub mod maglev;
