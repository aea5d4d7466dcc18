//! Errors of the private-network driver.

use std::net::IpAddr;
use std::path::PathBuf;

use super::intent::MacAddr;
use super::plan::NetlinkOp;

/// An intent the planner refuses (the controller should never send one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntentError {
    /// A VNI outside 1..=2^24-1.
    #[error("VNI {vni} is out of range; VNIs are 1 to 16777215")]
    VniOutOfRange {
        /// The VNI.
        vni: u32,
    },
    /// Two networks with one VNI.
    #[error("VNI {vni} is given to two networks")]
    DuplicateVni {
        /// The VNI.
        vni: u32,
    },
    /// A local port listed in two networks.
    #[error(
        "port {port} is listed in networks with VNI {first} and {second}; a port joins one network"
    )]
    PortInTwoNetworks {
        /// The port.
        port: String,
        /// One network.
        first: u32,
        /// The other.
        second: u32,
    },
    /// A VTEP whose family differs from the node's underlay address (or unspecified).
    #[error(
        "network {vni}: VTEP {vtep} is not usable with the underlay address {underlay} (same family, specified)"
    )]
    VtepFamily {
        /// The network.
        vni: u32,
        /// The VTEP.
        vtep: IpAddr,
        /// The node's underlay address.
        underlay: IpAddr,
    },
    /// A remote port MAC that is zero or multicast.
    #[error("network {vni}: remote port MAC {mac} is not a unicast address")]
    BadRemoteMac {
        /// The network.
        vni: u32,
        /// The MAC.
        mac: MacAddr,
    },
    /// One MAC behind two VTEPs.
    #[error("network {vni}: MAC {mac} is given two different VTEPs")]
    MacOnTwoVteps {
        /// The network.
        vni: u32,
        /// The MAC.
        mac: MacAddr,
    },
    /// One address on two MACs.
    #[error("network {vni}: address {ip} is given to two MACs")]
    AddressOnTwoMacs {
        /// The network.
        vni: u32,
        /// The address.
        ip: IpAddr,
    },
    /// A device prefix that would not fit or is not plain.
    #[error("device prefix {prefix:?} is not 1 to 5 lower-case letters or digits")]
    BadDevicePrefix {
        /// The prefix.
        prefix: String,
    },
}

/// A failure of the netlink adapter.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The intent was refused.
    #[error(transparent)]
    Intent(#[from] IntentError),
    /// The node's namespace could not be entered.
    #[error(transparent)]
    Netns(#[from] crate::netns::NetnsError),
    /// The tokio runtime or the netlink socket could not be made.
    #[error("cannot open a netlink socket in {netns}: {source}")]
    Connect {
        /// The namespace.
        netns: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A dump of the kernel's state failed.
    #[error("cannot read {what} from the kernel: {source}")]
    Read {
        /// What was read (links, FDB, neighbours).
        what: &'static str,
        /// The netlink error.
        #[source]
        source: rtnetlink::Error,
    },
    /// Some operations failed (the others were applied; applying again retries them).
    #[error("{} of {} netlink operations failed, first: {}", failed.len(), total, failed[0])]
    Apply {
        /// How many operations were attempted.
        total: usize,
        /// Those that failed.
        failed: Vec<OpFailure>,
    },
}

/// One operation that failed.
#[derive(Debug, thiserror::Error)]
#[error("{op}: {reason}")]
pub struct OpFailure {
    /// The operation.
    pub op: NetlinkOp,
    /// Why.
    pub reason: OpFailureReason,
}

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OpFailureReason {
    /// A device it names does not exist.
    #[error("device {0} does not exist")]
    NoSuchDevice(String),
    /// The kernel refused it.
    #[error("the kernel refused: {0}")]
    Kernel(#[source] rtnetlink::Error),
}

/// Results of the network driver.
pub type Result<T, E = NetworkError> = std::result::Result<T, E>;
