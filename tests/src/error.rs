//! What can go wrong while building, using or tearing down a lab.

use std::fmt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use node_agent::netns::NetnsError;

/// A failure of the lab harness.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A command ran and exited unsuccessfully.
    #[error("{run} exited with {status}{}", .run.outputs())]
    Exit {
        /// The command and what it printed.
        run: Box<CommandRun>,
        /// How it exited.
        status: ExitStatus,
    },
    /// A command did not finish in time and was killed.
    #[error(
        "{run} did not finish within {timeout:?} and was killed; raise the limit with `Lab::set_exec_timeout` if it is legitimately slow{}",
        .run.outputs()
    )]
    Timeout {
        /// The command and what it printed before it was killed.
        run: Box<CommandRun>,
        /// The limit it exceeded.
        timeout: Duration,
    },
    /// A command could not be started at all.
    #[error("cannot start `{command}` in {node}: {source}; is the program installed and on PATH?")]
    Spawn {
        /// The lab node it was meant to run in.
        node: String,
        /// The command line.
        command: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file or directory operation failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done, e.g. `create pin directory`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Sending a signal to a lab process failed.
    #[error("cannot signal process {pid}: {source}")]
    Signal {
        /// The process id.
        pid: u32,
        /// The underlying error.
        #[source]
        source: nix::Error,
    },
    /// Entering a lab namespace failed.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// An address outside the ranges labs may use.
    #[error(
        "address {address} is outside the lab ranges 198.18.0.0/15 and 2001:db8::/32 (or its prefix is shorter than the range); labs never use any other address"
    )]
    OutsideLab {
        /// The offending address, as given.
        address: String,
    },
    /// Text that is not `ADDRESS/PREFIX-LENGTH`.
    #[error(
        "invalid address {input:?}: expected ADDRESS/PREFIX-LENGTH, for example 198.18.1.1/24 or 2001:db8:1::1/64"
    )]
    BadCidr {
        /// The text given.
        input: String,
    },
    /// Text that is not a unicast MAC address.
    #[error(
        "invalid MAC address {input:?}: expected six hex bytes with the multicast bit clear, for example 02:00:c6:12:01:01"
    )]
    BadMac {
        /// The text given.
        input: String,
    },
    /// A node name that the lab cannot use.
    #[error(
        "invalid lab node name {name:?}: use 1 to 20 characters from a-z, 0-9 and '-', unique in the lab, and not `fabric`"
    )]
    BadNodeName {
        /// The name given.
        name: String,
    },
    /// A node that the lab does not have (or has with another role).
    #[error("lab {prefix} has no {role} named {name:?}")]
    NoSuchNode {
        /// The lab prefix.
        prefix: String,
        /// The role asked for: `node`, `hypervisor`, `instance` or `client`.
        role: &'static str,
        /// The name asked for.
        name: String,
    },
    /// A per-lab numbering space (hypervisors, clients, instances) is exhausted.
    #[error("lab {prefix} cannot hold more than {max} {role}s")]
    TooMany {
        /// The lab prefix.
        prefix: String,
        /// What there are too many of.
        role: &'static str,
        /// The limit.
        max: u32,
    },
}

/// A command that ran in a lab namespace, and what it printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRun {
    /// The lab node it ran in (`root` for the harness's own plumbing in the root namespace).
    pub node: String,
    /// The network namespace it ran in (`root` for the root namespace).
    pub netns: String,
    /// The command line.
    pub command: String,
    /// What it printed on stdout (lossy UTF-8).
    pub stdout: String,
    /// What it printed on stderr (lossy UTF-8).
    pub stderr: String,
}

impl CommandRun {
    fn outputs(&self) -> String {
        let mut text = String::new();
        for (name, output) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            if !output.is_empty() {
                text.push_str(&format!("\n--- {name} ---\n{}", output.trim_end()));
            }
        }
        text
    }
}

impl fmt::Display for CommandRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` in {} (netns {})",
            self.command, self.node, self.netns
        )
    }
}

/// The harness's result type.
pub type Result<T, E = LabError> = std::result::Result<T, E>;
