//! The controller's error type and its one mapping to gRPC status codes.
//!
//! Every variant that concerns a request names the offending field as a path into the request
//! (`port.ipv4`, `group.rules[3].port_from`). The field also travels in the `sdn-field` metadata entry
//! of the gRPC status so clients and tests can read it without parsing the message.

use std::net::IpAddr;

use uuid::Uuid;

use crate::model::{Kind, Revision};

/// Result with the controller's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Metadata key carrying the offending field of a refused request.
pub const FIELD_METADATA_KEY: &str = "sdn-field";

/// An object that still refers to another one (for "still in use" errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Kind of the referring object.
    pub kind: Kind,
    /// Id of the referring object.
    pub id: Uuid,
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.id)
    }
}

fn join(refs: &[Reference]) -> String {
    refs.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Everything that can go wrong in the controller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A required field is absent or empty.
    #[error("{field} is required; set it")]
    Missing {
        /// The field.
        field: String,
    },
    /// A field does not parse as what it must be.
    #[error("{field}: {value:?} is not a valid {expected}")]
    Malformed {
        /// The field.
        field: String,
        /// What was given.
        value: String,
        /// What it must be, for example `IPv4 CIDR such as 198.18.0.0/24`.
        expected: &'static str,
    },
    /// A number is outside its allowed range.
    #[error("{field}: {value} is out of range; use {min} to {max}")]
    OutOfRange {
        /// The field.
        field: String,
        /// What was given.
        value: i64,
        /// Smallest allowed.
        min: i64,
        /// Largest allowed.
        max: i64,
    },
    /// An address lies outside the prefix or range it must be in.
    #[error("{field}: address {address} is outside {within}; pick one inside it")]
    AddressOutside {
        /// The field.
        field: String,
        /// The address.
        address: IpAddr,
        /// The prefix or range, textual.
        within: String,
    },
    /// A field breaks a rule that ties it to other fields; `rule` says which and what to do.
    #[error("{field}: {rule}")]
    Inconsistent {
        /// The field.
        field: String,
        /// The rule broken, lower-case and actionable.
        rule: &'static str,
    },
    /// A value appears twice where it must be unique.
    #[error("{field}: {value} appears more than once; list it once")]
    Duplicate {
        /// The field.
        field: String,
        /// The repeated value.
        value: String,
    },
    /// A documented limit is exceeded.
    #[error("{field}: {count} exceeds the limit of {limit}")]
    LimitExceeded {
        /// The field.
        field: String,
        /// How many there would be.
        count: usize,
        /// The documented limit.
        limit: usize,
    },
    /// An id names no object.
    #[error("{field}: {kind} {id} not found; check the id")]
    NotFound {
        /// The field holding the id (`id` for the request's own object).
        field: String,
        /// Kind looked for.
        kind: Kind,
        /// The id given.
        id: String,
    },
    /// A unique value (VNI, MAC, address, VIP) is already taken.
    #[error(
        "{field}: {value} is already used by {holder}; pick another or leave it empty to allocate"
    )]
    AlreadyExists {
        /// The field.
        field: String,
        /// The value.
        value: String,
        /// Who holds it.
        holder: Reference,
    },
    /// The object is still referred to by others.
    #[error("{kind} {id} is still used by {}; remove those references first", join(.users))]
    InUse {
        /// Kind of the object.
        kind: Kind,
        /// Its id.
        id: Uuid,
        /// Who refers to it (at most a few, in key order).
        users: Vec<Reference>,
    },
    /// The object's state forbids the request.
    #[error("{kind} {id} is {state}; {advice}")]
    WrongState {
        /// Kind of the object.
        kind: Kind,
        /// Its id.
        id: Uuid,
        /// Its state.
        state: &'static str,
        /// What to do.
        advice: &'static str,
    },
    /// A lifecycle transition that the state machine refuses.
    #[error("{kind} cannot go from {from} on {event}")]
    InvalidTransition {
        /// Kind of the object.
        kind: Kind,
        /// Current state.
        from: &'static str,
        /// Refused event.
        event: &'static str,
    },
    /// No free address left.
    #[error(
        "{field}: no free address left in {range} of network {network_id}; widen the range or release ports"
    )]
    AddressesExhausted {
        /// The field that asked for allocation.
        field: String,
        /// The network.
        network_id: Uuid,
        /// The range, textual.
        range: String,
    },
    /// No free VNI left.
    #[error("{field}: every VNI is in use; delete unused networks")]
    VnisExhausted {
        /// The field that asked for allocation.
        field: String,
    },
    /// The revision given is not the object's current one.
    #[error(
        "{kind} {id}: revision {given} is stale (current is {current}); re-read the object and retry"
    )]
    StaleRevision {
        /// Kind of the object.
        kind: Kind,
        /// Its id.
        id: Uuid,
        /// Revision the caller sent.
        given: Revision,
        /// Current revision.
        current: Revision,
    },
    /// Too many concurrent writers kept invalidating the request's reads.
    #[error("gave up after {attempts} attempts conflicting with concurrent changes; retry")]
    Contention {
        /// How many transactions were tried.
        attempts: u32,
    },
    /// A wait for convergence timed out; the change itself is committed.
    #[error("{kind} {id} revision {revision} not applied in time by node(s) {}; they lag", .lagging.join(", "))]
    WaitTimeout {
        /// Kind of the object.
        kind: Kind,
        /// Its id.
        id: Uuid,
        /// The revision waited for.
        revision: Revision,
        /// Names (or ids) of the lagging nodes.
        lagging: Vec<String>,
    },
    /// This replica's view of the store has not yet reached a revision it needs.
    #[error(
        "this controller replica has not yet seen store revision {revision}; retry in a moment"
    )]
    SyncBehind {
        /// The revision needed.
        revision: Revision,
    },
    /// The caller's certificate does not allow the call.
    #[error("{identity} may not {action}; {advice}")]
    Forbidden {
        /// Who the certificate names.
        identity: String,
        /// What was refused.
        action: String,
        /// What to do.
        advice: &'static str,
    },
    /// etcd cannot be reached.
    #[error("etcd unreachable at {endpoints}: {source}; start etcd there or fix --etcd-endpoints")]
    StoreUnavailable {
        /// Endpoints tried.
        endpoints: String,
        /// Why.
        #[source]
        source: etcd_client::Error,
    },
    /// An etcd request failed.
    #[error("etcd request failed: {source}")]
    Store {
        /// Why.
        #[source]
        source: etcd_client::Error,
    },
    /// The store compacted the revision a watch asked to start from.
    #[error(
        "revision {revision} is compacted (oldest kept is {compacted}); resync from a snapshot"
    )]
    Compacted {
        /// Requested start.
        revision: Revision,
        /// Compaction point.
        compacted: Revision,
    },
    /// A stored value does not decode.
    #[error(
        "stored value at {key} does not decode: {source}; the store holds data of another version"
    )]
    CorruptValue {
        /// Key.
        key: String,
        /// Why.
        #[source]
        source: prost::DecodeError,
    },
    /// A stored value decodes but fails validation.
    #[error("stored object at {key} is invalid: {source}")]
    CorruptObject {
        /// Key.
        key: String,
        /// Why.
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// The request field the error is about, when it is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Missing { field }
            | Error::Malformed { field, .. }
            | Error::OutOfRange { field, .. }
            | Error::AddressOutside { field, .. }
            | Error::Inconsistent { field, .. }
            | Error::Duplicate { field, .. }
            | Error::LimitExceeded { field, .. }
            | Error::NotFound { field, .. }
            | Error::AlreadyExists { field, .. }
            | Error::AddressesExhausted { field, .. }
            | Error::VnisExhausted { field } => Some(field),
            Error::StaleRevision { .. } => Some("revision"),
            Error::InUse { .. } => Some("id"),
            _ => None,
        }
    }

    /// The gRPC code the error maps to.
    pub fn code(&self) -> tonic::Code {
        use tonic::Code;
        match self {
            Error::Missing { .. }
            | Error::Malformed { .. }
            | Error::OutOfRange { .. }
            | Error::AddressOutside { .. }
            | Error::Inconsistent { .. }
            | Error::Duplicate { .. } => Code::InvalidArgument,
            Error::NotFound { .. } => Code::NotFound,
            Error::AlreadyExists { .. } => Code::AlreadyExists,
            Error::InUse { .. } | Error::WrongState { .. } | Error::InvalidTransition { .. } => {
                Code::FailedPrecondition
            }
            Error::LimitExceeded { .. }
            | Error::AddressesExhausted { .. }
            | Error::VnisExhausted { .. } => Code::ResourceExhausted,
            Error::StaleRevision { .. } | Error::Contention { .. } => Code::Aborted,
            Error::WaitTimeout { .. } => Code::DeadlineExceeded,
            Error::StoreUnavailable { .. } | Error::Store { .. } | Error::SyncBehind { .. } => {
                Code::Unavailable
            }
            Error::Forbidden { .. } => Code::PermissionDenied,
            Error::Compacted { .. } => Code::OutOfRange,
            Error::CorruptValue { .. } | Error::CorruptObject { .. } => Code::DataLoss,
        }
    }

    /// Prefixes the field path with `prefix.` (used when a nested parser reports a relative field).
    pub fn under(mut self, prefix: &str) -> Error {
        match &mut self {
            Error::Missing { field }
            | Error::Malformed { field, .. }
            | Error::OutOfRange { field, .. }
            | Error::AddressOutside { field, .. }
            | Error::Inconsistent { field, .. }
            | Error::Duplicate { field, .. }
            | Error::LimitExceeded { field, .. }
            | Error::NotFound { field, .. }
            | Error::AlreadyExists { field, .. }
            | Error::AddressesExhausted { field, .. }
            | Error::VnisExhausted { field } => *field = format!("{prefix}.{field}"),
            _ => {}
        }
        self
    }
}

impl From<Error> for tonic::Status {
    fn from(err: Error) -> tonic::Status {
        let mut status = tonic::Status::new(err.code(), err.to_string());
        if let Some(field) = err.field()
            && let Ok(value) = field.parse()
        {
            status.metadata_mut().insert(FIELD_METADATA_KEY, value);
        }
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_carries_code_field_and_message() {
        let status: tonic::Status = Error::OutOfRange {
            field: "group.rules[0].port_from".into(),
            value: 70000,
            min: 1,
            max: 65535,
        }
        .into();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(
            status.metadata().get(FIELD_METADATA_KEY).unwrap(),
            "group.rules[0].port_from"
        );
        assert!(status.message().contains("use 1 to 65535"));
    }

    #[test]
    fn stale_revision_is_aborted() {
        let err = Error::StaleRevision {
            kind: Kind::SecurityGroup,
            id: Uuid::nil(),
            given: 3,
            current: 5,
        };
        assert_eq!(err.code(), tonic::Code::Aborted);
        assert!(err.to_string().contains("re-read"));
    }

    #[test]
    fn under_prefixes_the_field() {
        let err = Error::Missing {
            field: "mac".into(),
        }
        .under("port");
        assert_eq!(err.field(), Some("port.mac"));
    }
}
