//! What can go wrong, as one line a person can act on, and the exit code of each kind.
//!
//! The exit codes are part of the interface (scripts test them) and are documented in
//! `docs/sdnctl.md`; [`Exit`] is the one place that defines them.

use std::process::ExitCode;

use tonic::Code;

/// The metadata key in which the controller names the offending field of a refused request.
pub const FIELD_METADATA_KEY: &str = "sdn-field";

/// The exit codes of `sdnctl`; the numbers never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// The command did what was asked.
    Ok = 0,
    /// An error with no more specific code (internal controller error, undecodable data, local I/O).
    Other = 1,
    /// Bad command line (clap's own code for usage errors, also used for our own argument checks).
    Usage = 2,
    /// The controller cannot be reached, did not answer in time, or reports its store unavailable.
    Unreachable = 3,
    /// An id names no object (`NOT_FOUND`).
    NotFound = 4,
    /// The certificate's identity may not do this, or the TLS handshake was refused.
    PermissionDenied = 5,
    /// The controller refused a field of the request (`INVALID_ARGUMENT`).
    InvalidArgument = 6,
    /// Stale revision or concurrent writers (`ABORTED`): re-read and retry.
    Conflict = 7,
    /// A VNI, MAC, address or VIP is already taken (`ALREADY_EXISTS`).
    AlreadyExists = 8,
    /// The object is in use or in a state that forbids the change (`FAILED_PRECONDITION`).
    FailedPrecondition = 9,
    /// An address pool is empty or a limit is reached (`RESOURCE_EXHAUSTED`).
    Exhausted = 10,
    /// A `--wait` timed out (`DEADLINE_EXCEEDED`): the change is committed, some nodes lag.
    WaitTimedOut = 11,
    /// `sdnctl status`: some nodes have not applied the object's current revision.
    NotConverged = 12,
    /// The controller does not serve this call (`UNIMPLEMENTED`, e.g. receipts without sync).
    Unsupported = 13,
    /// The subcommand exists but is not built yet (needs the node agent's API).
    NotYet = 14,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// An `sdnctl` failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No connection could be made to the controller.
    #[error(
        "controller unreachable at {url}: {reason}; check --controller (or SDNCTL_CONTROLLER) and that sdn-controller runs there"
    )]
    Unreachable {
        /// The URL tried.
        url: String,
        /// Why, from the transport error chain.
        reason: String,
    },
    /// The TLS handshake failed.
    #[error(
        "tls handshake with {url} failed: {reason}; check --ca (the controller's CA) and --cert/--key (an operator certificate from the client CA)"
    )]
    Handshake {
        /// The URL tried.
        url: String,
        /// Why, from the transport error chain.
        reason: String,
    },
    /// A local file could not be read.
    #[error("cannot read {what} {path}: {source}")]
    ReadFile {
        /// Which option the file belongs to.
        what: &'static str,
        /// The path given.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The command line is inconsistent in a way clap cannot see.
    #[error("{0}")]
    Usage(String),
    /// The controller refused or failed a call.
    #[error("{}", rpc_line(.0))]
    Rpc(Rpc),
    /// `status`: nodes lag.
    #[error("not converged: {lagging} of {total} nodes lag: {names}")]
    NotConverged {
        /// How many nodes lag.
        lagging: usize,
        /// How many nodes must apply the object.
        total: usize,
        /// The laggards, `name (id)`, comma-separated.
        names: String,
    },
    /// A subcommand that needs the agent's API.
    #[error(
        "`{command}` is not available yet: it needs the node agent's API, which is not built (see docs/sdnctl.md, \"Not yet\")"
    )]
    NotYet {
        /// The subcommand.
        command: &'static str,
    },
    /// Output could not be written.
    #[error("cannot write output: {0}")]
    Write(#[source] std::io::Error),
    /// Output could not be encoded.
    #[error("cannot encode output as {format}: {reason}")]
    Encode {
        /// json or yaml.
        format: &'static str,
        /// The encoder's message.
        reason: String,
    },
}

/// A refused or failed call, with what the controller said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rpc {
    /// What sdnctl was doing (`get network 0b1c...`).
    pub action: String,
    /// The gRPC code.
    pub code: Code,
    /// The controller's message, on one line.
    pub message: String,
    /// The offending field (`sdn-field` metadata), when the controller named one.
    pub field: Option<String>,
}

impl Rpc {
    /// From a status returned by `action`.
    pub fn from_status(action: impl Into<String>, status: &tonic::Status) -> Rpc {
        let field = status
            .metadata()
            .get(FIELD_METADATA_KEY)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_string);
        Rpc {
            action: action.into(),
            code: status.code(),
            message: one_line(status.message()),
            field,
        }
    }
}

/// Joins the lines of a message so every error is one line.
pub fn one_line(s: &str) -> String {
    let parts: Vec<&str> = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    parts.join("; ")
}

fn rpc_line(r: &Rpc) -> String {
    let field = r
        .field
        .as_deref()
        .map(|f| format!(" [field {f}]"))
        .unwrap_or_default();
    let (what, hint) = match r.code {
        Code::NotFound => ("not found", ""),
        Code::InvalidArgument => ("invalid argument", ""),
        Code::PermissionDenied => (
            "permission denied",
            "; use a certificate whose identity may do this (operators read, orchestrators write)",
        ),
        Code::Unauthenticated => (
            "unauthenticated",
            "; pass --cert and --key with a certificate from the controller's client CA",
        ),
        Code::Aborted => (
            "conflict",
            "; re-read the object (get) and retry with its current --revision",
        ),
        Code::AlreadyExists => ("already exists", ""),
        Code::FailedPrecondition => ("refused", ""),
        Code::ResourceExhausted => ("exhausted", ""),
        Code::DeadlineExceeded => (
            "wait timed out",
            "; the change is committed: follow it with `sdnctl status`",
        ),
        Code::Unavailable => (
            "controller unavailable",
            "; retry, or check the controller and its etcd",
        ),
        Code::Cancelled => (
            "no answer",
            "; the controller did not answer in time (raise --timeout, or check it)",
        ),
        Code::Unimplemented => ("not supported by this controller", ""),
        _ => ("controller error", ""),
    };
    // The controller's own advice wins when it already gives it.
    let advised = match r.code {
        Code::Aborted => r.message.contains("retry"),
        Code::PermissionDenied | Code::Unauthenticated => r.message.contains("certificate"),
        _ => false,
    };
    let hint = if advised { "" } else { hint };
    if r.message.is_empty() {
        format!("{}: {what} ({:?}){field}{hint}", r.action, r.code)
    } else {
        format!("{}: {what}: {}{field}{hint}", r.action, r.message)
    }
}

impl Error {
    /// The exit code of this failure.
    pub fn exit(&self) -> Exit {
        match self {
            Error::Unreachable { .. } => Exit::Unreachable,
            Error::Handshake { .. } => Exit::PermissionDenied,
            Error::ReadFile { .. } | Error::Encode { .. } | Error::Write(_) => Exit::Other,
            Error::Usage(_) => Exit::Usage,
            Error::NotConverged { .. } => Exit::NotConverged,
            Error::NotYet { .. } => Exit::NotYet,
            Error::Rpc(r) => exit_of(r.code),
        }
    }
}

/// The exit code of a gRPC code.
pub fn exit_of(code: Code) -> Exit {
    match code {
        Code::Ok => Exit::Ok,
        Code::Unavailable | Code::Cancelled => Exit::Unreachable,
        Code::NotFound => Exit::NotFound,
        Code::PermissionDenied | Code::Unauthenticated => Exit::PermissionDenied,
        Code::InvalidArgument | Code::OutOfRange => Exit::InvalidArgument,
        Code::Aborted => Exit::Conflict,
        Code::AlreadyExists => Exit::AlreadyExists,
        Code::FailedPrecondition => Exit::FailedPrecondition,
        Code::ResourceExhausted => Exit::Exhausted,
        Code::DeadlineExceeded => Exit::WaitTimedOut,
        Code::Unimplemented => Exit::Unsupported,
        Code::Unknown | Code::Internal | Code::DataLoss => Exit::Other,
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Maps a call's status into an [`Error`], naming what was being done.
pub trait Context<T> {
    /// Attaches the action (`get network <id>`) to a failed call.
    fn during(self, action: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<tonic::Response<T>, tonic::Status> {
    fn during(self, action: impl FnOnce() -> String) -> Result<T> {
        self.map(tonic::Response::into_inner)
            .map_err(|s| Error::Rpc(Rpc::from_status(action(), &s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Status;
    use tonic::metadata::MetadataValue;

    fn status(code: Code, msg: &str, field: Option<&str>) -> Status {
        let mut s = Status::new(code, msg);
        if let Some(f) = field {
            s.metadata_mut()
                .insert(FIELD_METADATA_KEY, MetadataValue::try_from(f).unwrap());
        }
        s
    }

    fn line(code: Code, msg: &str, field: Option<&str>) -> (String, u8) {
        let e = Error::Rpc(Rpc::from_status("create port", &status(code, msg, field)));
        (e.to_string(), e.exit() as u8)
    }

    #[test]
    fn every_grpc_code_has_a_distinct_meaningful_exit() {
        let table = [
            (Code::NotFound, 4),
            (Code::PermissionDenied, 5),
            (Code::Unauthenticated, 5),
            (Code::InvalidArgument, 6),
            (Code::Aborted, 7),
            (Code::AlreadyExists, 8),
            (Code::FailedPrecondition, 9),
            (Code::ResourceExhausted, 10),
            (Code::DeadlineExceeded, 11),
            (Code::Unimplemented, 13),
            (Code::Unavailable, 3),
            (Code::Internal, 1),
            (Code::DataLoss, 1),
        ];
        for (code, exit) in table {
            assert_eq!(exit_of(code) as u8, exit, "{code:?}");
        }
    }

    #[test]
    fn invalid_argument_names_the_field() {
        let (l, code) = line(
            Code::InvalidArgument,
            "port.ipv4 198.18.9.1 is outside network 198.18.64.0/26",
            Some("port.ipv4"),
        );
        assert_eq!(
            l,
            "create port: invalid argument: port.ipv4 198.18.9.1 is outside network 198.18.64.0/26 [field port.ipv4]"
        );
        assert_eq!(code, 6);
    }

    #[test]
    fn stale_revision_says_what_to_do() {
        let (l, code) = line(
            Code::Aborted,
            "revision 4 is stale (current 7)",
            Some("revision"),
        );
        assert!(l.contains("conflict: revision 4 is stale"), "{l}");
        assert!(l.contains("[field revision]"), "{l}");
        assert!(l.contains("retry with its current --revision"), "{l}");
        let (l, _) = line(
            Code::Aborted,
            "revision 4 is stale; re-read the object and retry",
            None,
        );
        assert!(!l.contains("--revision"), "no second hint: {l}");
        assert_eq!(code, 7);
    }

    #[test]
    fn wait_timeout_keeps_the_laggards_on_one_line() {
        let (l, code) = line(
            Code::DeadlineExceeded,
            "port x not applied within 1s by\nhv-2 (00000000-0000-0000-0000-000000000002)",
            None,
        );
        assert!(!l.contains('\n'), "{l}");
        assert!(
            l.contains("hv-2 (00000000-0000-0000-0000-000000000002)"),
            "{l}"
        );
        assert!(l.contains("sdnctl status"), "{l}");
        assert_eq!(code, 11);
    }

    #[test]
    fn permission_denied_and_not_found() {
        let (l, code) = line(
            Code::PermissionDenied,
            "spiffe://sdn/operator/alice may not write",
            None,
        );
        assert!(
            l.starts_with("create port: permission denied: spiffe://"),
            "{l}"
        );
        assert_eq!(code, 5);
        let (l, code) = line(Code::NotFound, "network 00 does not exist", Some("id"));
        assert_eq!(
            l,
            "create port: not found: network 00 does not exist [field id]"
        );
        assert_eq!(code, 4);
    }

    #[test]
    fn local_errors() {
        let e = Error::Unreachable {
            url: "http://127.0.0.1:1".into(),
            reason: "connection refused".into(),
        };
        assert_eq!(e.exit(), Exit::Unreachable);
        assert!(e.to_string().contains("SDNCTL_CONTROLLER"));
        assert_eq!(Error::NotYet { command: "flows" }.exit() as u8, 14);
        assert_eq!(
            Error::NotConverged {
                lagging: 1,
                total: 2,
                names: "hv-2 (x)".into()
            }
            .to_string(),
            "not converged: 1 of 2 nodes lag: hv-2 (x)"
        );
    }
}
