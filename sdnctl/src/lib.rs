//! `sdnctl`, the operator CLI of the SDN controller (issue 6).
//!
//! Pure core, thin shell:
//! - [`cli`]: the command line (clap derive), with examples on every command;
//! - [`spec`]: the compact text forms of rules, services, backends, health checks, leases and
//!   durations, parsed and printed by pure functions;
//! - [`view`]: the documented JSON/YAML schema, built from the wire types (**API Boundary**: the
//!   only place that maps `sdn.v1` messages to output; pinned by `tests/golden/`);
//! - [`table`], [`output`]: readable tables and the `-o` formats;
//! - [`error`]: one-line errors and the exit code of each kind;
//! - [`connection`]: the channel to the controller (plaintext or mutual TLS);
//! - [`command`]: one module per resource kind, running requests built by pure functions.
//!
//! `flows`, `trace`, `counters` and `groups unused-rules` exist in the command line but exit 14:
//! they need the node agent's API. User documentation: `docs/sdnctl.md`.

pub mod cli;
pub mod command;
pub mod connection;
pub mod error;
pub mod output;
pub mod spec;
pub mod table;
pub mod view;

pub use error::{Error, Exit, Result};

/// Runs `sdnctl` with the process's arguments; returns the exit code.
pub fn main() -> std::process::ExitCode {
    use clap::Parser;
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sdnctl: cannot start the async runtime: {e}");
            return Exit::Other.into();
        }
    };
    let mut stdout = std::io::stdout().lock();
    match runtime.block_on(command::run(cli, &mut stdout)) {
        Ok(()) => Exit::Ok.into(),
        Err(e) => {
            eprintln!("sdnctl: {e}");
            e.exit().into()
        }
    }
}
