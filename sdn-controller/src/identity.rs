//! Who is calling, from the client certificate of an mTLS connection, and what they may do.
//!
//! A certificate names its holder with one URI subject alternative name:
//!
//! | URI | role | may |
//! | --- | --- | --- |
//! | `spiffe://sdn/node/<node-uuid>` | the agent of one node | open that node's sync stream, nothing else |
//! | `spiffe://sdn/operator/<name>` | an operator (`sdnctl`) | read resources and receipts |
//! | `spiffe://sdn/orchestrator/<name>` | an orchestrator | read and write resources |
//!
//! A client without a certificate signed by the configured CA never gets past the TLS handshake;
//! without `--insecure` there is no other way in.

use tonic::Request;
use uuid::Uuid;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::error::{Error, Result};

/// URI prefix of every identity.
pub const URI_PREFIX: &str = "spiffe://sdn/";

/// A caller's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// The agent of a node.
    Agent(Uuid),
    /// An operator.
    Operator(String),
    /// An orchestrator.
    Orchestrator(String),
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identity::Agent(id) => write!(f, "the agent of node {id}"),
            Identity::Operator(n) => write!(f, "operator {n}"),
            Identity::Orchestrator(n) => write!(f, "orchestrator {n}"),
        }
    }
}

/// What a call needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read resources or receipts.
    Read,
    /// Change resources.
    Write,
    /// Open a node's sync stream.
    Sync(Uuid),
}

fn unauthenticated(why: &str) -> Error {
    Error::Forbidden {
        identity: "a client".into(),
        action: format!("call: {why}"),
        advice: "present a certificate from the controller's CA with a spiffe://sdn/... URI",
    }
}

/// The identity a DER certificate names.
pub fn from_certificate(der: &[u8]) -> Result<Identity> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|_| unauthenticated("certificate does not parse"))?;
    let san = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .ok_or_else(|| unauthenticated("certificate has no subject alternative name"))?;
    for name in &san.value.general_names {
        if let GeneralName::URI(uri) = name
            && let Some(rest) = uri.strip_prefix(URI_PREFIX)
        {
            let (role, who) = rest.split_once('/').unwrap_or((rest, ""));
            return match role {
                "node" => Uuid::try_parse(who)
                    .map(Identity::Agent)
                    .map_err(|_| unauthenticated("node URI does not end in a UUID")),
                "operator" if !who.is_empty() => Ok(Identity::Operator(who.into())),
                "orchestrator" if !who.is_empty() => Ok(Identity::Orchestrator(who.into())),
                _ => Err(unauthenticated("unknown role in the certificate URI")),
            };
        }
    }
    Err(unauthenticated("certificate has no spiffe://sdn/ URI"))
}

/// The identity of the caller of a request on an mTLS connection.
pub fn of_request<T>(request: &Request<T>) -> Result<Identity> {
    let certs = request
        .peer_certs()
        .ok_or_else(|| unauthenticated("no client certificate"))?;
    let leaf = certs
        .first()
        .ok_or_else(|| unauthenticated("no client certificate"))?;
    from_certificate(leaf.as_ref())
}

/// Refuses what `who` may not do.
pub fn authorize(who: &Identity, access: Access) -> Result<()> {
    let allowed = match (who, access) {
        (Identity::Orchestrator(_), Access::Read | Access::Write) => true,
        (Identity::Operator(_), Access::Read) => true,
        (Identity::Agent(node), Access::Sync(wanted)) => *node == wanted,
        _ => false,
    };
    if allowed {
        return Ok(());
    }
    let (action, advice) = match access {
        Access::Read => (
            "read the API".to_string(),
            "use an operator or orchestrator certificate",
        ),
        Access::Write => (
            "change resources".to_string(),
            "use an orchestrator certificate",
        ),
        Access::Sync(node) => (
            format!("open the sync stream of node {node}"),
            "an agent syncs only the node its certificate names",
        ),
    };
    Err(Error::Forbidden {
        identity: who.to_string(),
        action,
        advice,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_rights() {
        let a = Uuid::from_u128(1);
        let agent = Identity::Agent(a);
        assert!(authorize(&agent, Access::Sync(a)).is_ok());
        let err = authorize(&agent, Access::Sync(Uuid::from_u128(2))).unwrap_err();
        assert_eq!(err.code(), tonic::Code::PermissionDenied);
        assert!(err.to_string().contains("syncs only the node"), "{err}");
        assert!(authorize(&agent, Access::Read).is_err());
        let op = Identity::Operator("oncall".into());
        assert!(authorize(&op, Access::Read).is_ok());
        assert!(authorize(&op, Access::Write).is_err());
        let orch = Identity::Orchestrator("compute".into());
        assert!(authorize(&orch, Access::Write).is_ok());
        assert!(authorize(&orch, Access::Sync(a)).is_err());
    }
}
