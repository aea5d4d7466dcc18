//! Errors of the DHCP server.

/// A failure to start the DHCP server.
#[derive(Debug, thiserror::Error)]
pub enum DhcpError {
    /// The node's namespace could not be entered.
    #[error(transparent)]
    Netns(#[from] crate::netns::NetnsError),
    /// A device it was given does not exist in the namespace.
    #[error("device {0} does not exist in the node's namespace; is the network applied?")]
    NoSuchDevice(String),
    /// A socket call failed.
    #[error(
        "cannot {action} the DHCP packet socket on {device}: {source}; this needs CAP_NET_RAW (run as root)"
    )]
    Socket {
        /// What was being done.
        action: &'static str,
        /// The device.
        device: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Results of the DHCP server.
pub type Result<T, E = DhcpError> = std::result::Result<T, E>;
