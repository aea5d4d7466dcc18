//! Validation: wire objects (`sdn_proto::v1`) in, validated domain objects ([`crate::model`]) out.
//!
//! Pure functions, no I/O. Every refusal names the offending field as a path into the request
//! (`port.ipv4`, `group.rules[2].icmp_code`). Cross-object checks that need other objects (does the
//! network exist, is the address free) take those objects as arguments; the registry looks them up.
//!
//! Documented limits ([`limits`]) are enforced here and in the registry (for additive requests).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::SystemTime;

use ipnetwork::{IpNetwork, Ipv4Network, Ipv6Network};
use sdn_proto::v1 as pb;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::model::*;

/// The documented limits of the API.
pub mod limits {
    /// Longest object name.
    pub const MAX_NAME_LEN: usize = 63;
    /// Longest description.
    pub const MAX_DESCRIPTION_LEN: usize = 255;
    /// Longest instance id.
    pub const MAX_INSTANCE_ID_LEN: usize = 128;
    /// Rules per security group.
    pub const MAX_RULES_PER_GROUP: usize = 1024;
    /// Security groups per port.
    pub const MAX_GROUPS_PER_PORT: usize = 16;
    /// Backends per load-balancer service.
    pub const MAX_BACKENDS_PER_SERVICE: usize = 512;
    /// Services per load balancer.
    pub const MAX_SERVICES_PER_LOAD_BALANCER: usize = 64;
    /// Static leases per network.
    pub const MAX_STATIC_LEASES: usize = 4096;
    /// Largest backend weight.
    pub const MAX_BACKEND_WEIGHT: u32 = 1000;
    /// Largest VNI (24 bits).
    pub const MAX_VNI: u32 = (1 << 24) - 1;
    /// Shortest and longest IPv4 prefix of a network.
    pub const IPV4_PREFIX_LEN: (u8, u8) = (8, 30);
    /// Shortest and longest IPv6 prefix of a network.
    pub const IPV6_PREFIX_LEN: (u8, u8) = (48, 120);
}

fn field(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// An object name: 1 to 63 characters from `a-z A-Z 0-9 - _ .`.
pub fn parse_name(field: &str, name: &str) -> Result<String> {
    if name.is_empty() {
        return Err(Error::Missing {
            field: field.into(),
        });
    }
    if name.len() > limits::MAX_NAME_LEN {
        return Err(Error::LimitExceeded {
            field: field.into(),
            count: name.len(),
            limit: limits::MAX_NAME_LEN,
        });
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Error::Malformed {
            field: field.into(),
            value: name.into(),
            expected: "name of letters, digits, '-', '_' and '.'",
        });
    }
    Ok(name.to_string())
}

/// A free-form description of at most 255 bytes without control characters.
pub fn parse_description(field: &str, text: &str) -> Result<String> {
    if text.len() > limits::MAX_DESCRIPTION_LEN {
        return Err(Error::LimitExceeded {
            field: field.into(),
            count: text.len(),
            limit: limits::MAX_DESCRIPTION_LEN,
        });
    }
    if text.chars().any(char::is_control) {
        return Err(Error::Malformed {
            field: field.into(),
            value: text.into(),
            expected: "description without control characters",
        });
    }
    Ok(text.to_string())
}

/// A required UUID.
pub fn parse_id(field: &str, id: &str) -> Result<Uuid> {
    if id.is_empty() {
        return Err(Error::Missing {
            field: field.into(),
        });
    }
    parse_uuid(field, id)
}

fn parse_uuid(field: &str, id: &str) -> Result<Uuid> {
    Uuid::try_parse(id).map_err(|_| Error::Malformed {
        field: field.into(),
        value: id.into(),
        expected: "UUID such as 123e4567-e89b-12d3-a456-426614174000",
    })
}

/// An optional UUID (empty = none).
pub fn parse_optional_id(field: &str, id: &str) -> Result<Option<Uuid>> {
    if id.is_empty() {
        Ok(None)
    } else {
        parse_uuid(field, id).map(Some)
    }
}

/// A revision sent by a caller: >= 0.
pub fn parse_revision(field: &str, revision: i64) -> Result<Revision> {
    if revision < 0 {
        return Err(Error::OutOfRange {
            field: field.into(),
            value: revision,
            min: 0,
            max: i64::MAX,
        });
    }
    Ok(revision)
}

/// A unicast, non-zero MAC written as six hex pairs separated by colons.
pub fn parse_mac(field: &str, text: &str) -> Result<Mac> {
    let malformed = || Error::Malformed {
        field: field.into(),
        value: text.into(),
        expected: "MAC such as 02:00:00:00:00:01",
    };
    let mut bytes = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut bytes {
        let part = parts.next().ok_or_else(malformed)?;
        if part.len() != 2 || !part.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(malformed());
        }
        *byte = u8::from_str_radix(part, 16).map_err(|_| malformed())?;
    }
    if parts.next().is_some() {
        return Err(malformed());
    }
    let mac = Mac(bytes);
    if mac.is_multicast() || mac.is_zero() {
        return Err(Error::Inconsistent {
            field: field.into(),
            rule: "a port MAC must be unicast and non-zero (first octet even)",
        });
    }
    Ok(mac)
}

/// An IPv4 address.
pub fn parse_ipv4(field: &str, text: &str) -> Result<Ipv4Addr> {
    text.parse().map_err(|_| Error::Malformed {
        field: field.into(),
        value: text.into(),
        expected: "IPv4 address such as 198.18.0.10",
    })
}

/// An IPv6 address.
pub fn parse_ipv6(field: &str, text: &str) -> Result<Ipv6Addr> {
    text.parse().map_err(|_| Error::Malformed {
        field: field.into(),
        value: text.into(),
        expected: "IPv6 address such as 2001:db8::10",
    })
}

/// An IPv4 or IPv6 address.
pub fn parse_ip(field: &str, text: &str) -> Result<IpAddr> {
    text.parse().map_err(|_| Error::Malformed {
        field: field.into(),
        value: text.into(),
        expected: "IP address such as 198.18.0.10 or 2001:db8::10",
    })
}

fn host_bits_zero(field: &str, net: IpNetwork) -> Result<()> {
    if net.network() != net.ip() {
        return Err(Error::Inconsistent {
            field: field.into(),
            rule: "host bits must be zero; write the prefix's network address",
        });
    }
    Ok(())
}

/// An IPv4 or IPv6 prefix in CIDR form with zero host bits.
pub fn parse_cidr(field: &str, text: &str) -> Result<IpNetwork> {
    let net: IpNetwork = text.parse().map_err(|_| Error::Malformed {
        field: field.into(),
        value: text.into(),
        expected: "CIDR such as 198.18.0.0/24 or 2001:db8::/64",
    })?;
    if !text.contains('/') {
        return Err(Error::Malformed {
            field: field.into(),
            value: text.into(),
            expected: "CIDR with a prefix length such as 198.18.0.0/24",
        });
    }
    host_bits_zero(field, net)?;
    Ok(net)
}

fn parse_ipv4_network(field: &str, text: &str) -> Result<Ipv4Network> {
    let malformed = || Error::Malformed {
        field: field.into(),
        value: text.into(),
        expected: "IPv4 CIDR such as 198.18.0.0/24",
    };
    if !text.contains('/') {
        return Err(malformed());
    }
    let net: Ipv4Network = text.parse().map_err(|_| malformed())?;
    let (min, max) = limits::IPV4_PREFIX_LEN;
    if !(min..=max).contains(&net.prefix()) {
        return Err(Error::OutOfRange {
            field: field.into(),
            value: net.prefix().into(),
            min: min.into(),
            max: max.into(),
        });
    }
    host_bits_zero(field, IpNetwork::V4(net))?;
    Ok(net)
}

fn parse_ipv6_network(field: &str, text: &str) -> Result<Ipv6Network> {
    let malformed = || Error::Malformed {
        field: field.into(),
        value: text.into(),
        expected: "IPv6 prefix such as 2001:db8:10::/64",
    };
    if !text.contains('/') {
        return Err(malformed());
    }
    let net: Ipv6Network = text.parse().map_err(|_| malformed())?;
    let (min, max) = limits::IPV6_PREFIX_LEN;
    if !(min..=max).contains(&net.prefix()) {
        return Err(Error::OutOfRange {
            field: field.into(),
            value: net.prefix().into(),
            min: min.into(),
            max: max.into(),
        });
    }
    host_bits_zero(field, IpNetwork::V6(net))?;
    Ok(net)
}

fn u16_in(field: &str, value: u32, min: u16, max: u16) -> Result<u16> {
    if value < u32::from(min) || value > u32::from(max) {
        return Err(Error::OutOfRange {
            field: field.into(),
            value: value.into(),
            min: min.into(),
            max: max.into(),
        });
    }
    Ok(value as u16)
}

fn u32_in(field: &str, value: u32, min: u32, max: u32) -> Result<u32> {
    if value < min || value > max {
        return Err(Error::OutOfRange {
            field: field.into(),
            value: value.into(),
            min: min.into(),
            max: max.into(),
        });
    }
    Ok(value)
}

fn unknown_enum(field: &str, value: i32) -> Error {
    Error::OutOfRange {
        field: field.into(),
        value: value.into(),
        min: 1,
        max: i64::MAX,
    }
}

/// Meta of a new object: a fresh random id (or the given one), the name, zero revision, `now`.
pub fn new_meta(prefix: &str, meta: Option<&pb::ObjectMeta>, now: SystemTime) -> Result<Meta> {
    let meta = meta.ok_or_else(|| Error::Missing {
        field: field(prefix, "meta"),
    })?;
    Ok(Meta {
        id: Uuid::nil(),
        name: parse_name(&field(prefix, "meta.name"), &meta.name)?,
        revision: 0,
        created_at: now,
        updated_at: now,
    })
}

fn parse_role(field: &str, role: i32) -> Result<NodeRole> {
    match pb::NodeRole::try_from(role) {
        Ok(pb::NodeRole::Compute) => Ok(NodeRole::Compute),
        Ok(pb::NodeRole::Lb) => Ok(NodeRole::Lb),
        _ => Err(unknown_enum(field, role)),
    }
}

/// Roles: at least one, known, no duplicates; returned sorted.
pub fn parse_roles(field: &str, roles: &[i32]) -> Result<Vec<NodeRole>> {
    if roles.is_empty() {
        return Err(Error::Missing {
            field: field.into(),
        });
    }
    let mut out = Vec::with_capacity(roles.len());
    for (i, &r) in roles.iter().enumerate() {
        let role = parse_role(&format!("{field}[{i}]"), r)?;
        if out.contains(&role) {
            return Err(Error::Duplicate {
                field: format!("{field}[{i}]"),
                value: format!("{role:?}").to_lowercase(),
            });
        }
        out.push(role);
    }
    out.sort();
    Ok(out)
}

/// A node to register (create request or agent hello).
pub fn parse_node(node: &pb::Node, now: SystemTime) -> Result<Node> {
    let mut meta = new_meta("node", node.meta.as_ref(), now)?;
    if let Some(id) = node.meta.as_ref().map(|m| m.id.as_str()) {
        meta.id = parse_optional_id("node.meta.id", id)?.unwrap_or_else(Uuid::nil);
    }
    if node.underlay_ip.is_empty() {
        return Err(Error::Missing {
            field: "node.underlay_ip".into(),
        });
    }
    let underlay_ip = parse_ip("node.underlay_ip", &node.underlay_ip)?;
    if underlay_ip.is_unspecified() || underlay_ip.is_multicast() {
        return Err(Error::Inconsistent {
            field: "node.underlay_ip".into(),
            rule: "the underlay address must be a unicast address",
        });
    }
    let roles = parse_roles("node.roles", &node.roles)?;
    if node.agent_version.len() > limits::MAX_NAME_LEN {
        return Err(Error::LimitExceeded {
            field: "node.agent_version".into(),
            count: node.agent_version.len(),
            limit: limits::MAX_NAME_LEN,
        });
    }
    for (i, cap) in node.capabilities.iter().enumerate() {
        parse_name(&format!("node.capabilities[{i}]"), cap)?;
    }
    Ok(Node {
        meta,
        underlay_ip,
        roles,
        agent_version: node.agent_version.clone(),
        capabilities: node.capabilities.clone(),
        last_seen: None,
        applied_revision: 0,
        state: NodeState::Pending,
    })
}

/// The first and last host address of an IPv4 prefix (network and broadcast excluded).
pub fn default_range_v4(net: Ipv4Network) -> AddrRange<Ipv4Addr> {
    let first = u32::from(net.network()) + 1;
    let last = u32::from(net.broadcast()) - 1;
    AddrRange {
        start: first.into(),
        end: last.into(),
    }
}

/// Prefix + 1 to the last address of an IPv6 prefix.
pub fn default_range_v6(net: Ipv6Network) -> AddrRange<Ipv6Addr> {
    let first = u128::from(net.network()) + 1;
    let last = u128::from(net.broadcast());
    AddrRange {
        start: first.into(),
        end: last.into(),
    }
}

fn within_v4(field: &str, addr: Ipv4Addr, net: Ipv4Network) -> Result<()> {
    let r = default_range_v4(net);
    if addr < r.start || addr > r.end {
        return Err(Error::AddressOutside {
            field: field.into(),
            address: addr.into(),
            within: format!("the host addresses of {net}"),
        });
    }
    Ok(())
}

fn within_v6(field: &str, addr: Ipv6Addr, net: Ipv6Network) -> Result<()> {
    let r = default_range_v6(net);
    if addr < r.start || addr > r.end {
        return Err(Error::AddressOutside {
            field: field.into(),
            address: addr.into(),
            within: format!("the host addresses of {net}"),
        });
    }
    Ok(())
}

/// true when `addr` lies in the range.
pub fn in_range<A: PartialOrd>(range: &AddrRange<A>, addr: &A) -> bool {
    &range.start <= addr && addr <= &range.end
}

fn parse_range_v4(
    prefix: &str,
    net: Ipv4Network,
    start: &str,
    end: &str,
) -> Result<AddrRange<Ipv4Addr>> {
    let mut range = default_range_v4(net);
    if !start.is_empty() {
        let f = field(prefix, "start_ipv4");
        range.start = parse_ipv4(&f, start)?;
        within_v4(&f, range.start, net)?;
    }
    if !end.is_empty() {
        let f = field(prefix, "end_ipv4");
        range.end = parse_ipv4(&f, end)?;
        within_v4(&f, range.end, net)?;
    }
    if range.start > range.end {
        return Err(Error::Inconsistent {
            field: field(prefix, "end_ipv4"),
            rule: "end_ipv4 must not be below start_ipv4; swap them",
        });
    }
    Ok(range)
}

fn parse_range_v6(
    prefix: &str,
    net: Ipv6Network,
    start: &str,
    end: &str,
) -> Result<AddrRange<Ipv6Addr>> {
    let mut range = default_range_v6(net);
    if !start.is_empty() {
        let f = field(prefix, "start_ipv6");
        range.start = parse_ipv6(&f, start)?;
        within_v6(&f, range.start, net)?;
    }
    if !end.is_empty() {
        let f = field(prefix, "end_ipv6");
        range.end = parse_ipv6(&f, end)?;
        within_v6(&f, range.end, net)?;
    }
    if range.start > range.end {
        return Err(Error::Inconsistent {
            field: field(prefix, "end_ipv6"),
            rule: "end_ipv6 must not be below start_ipv6; swap them",
        });
    }
    Ok(range)
}

/// A private network of a create request (VNI 0 = allocate). `meta.id` is left nil.
pub fn parse_network(net: &pb::PrivateNetwork, now: SystemTime) -> Result<Network> {
    let meta = new_meta("network", net.meta.as_ref(), now)?;
    let description = parse_description("network.description", &net.description)?;
    if net.ipv4_cidr.is_empty() {
        return Err(Error::Missing {
            field: "network.ipv4_cidr".into(),
        });
    }
    let ipv4 = parse_ipv4_network("network.ipv4_cidr", &net.ipv4_cidr)?;
    let ipv6 = if net.ipv6_prefix.is_empty() {
        None
    } else {
        Some(parse_ipv6_network("network.ipv6_prefix", &net.ipv6_prefix)?)
    };
    let vni = if net.vni == 0 {
        0
    } else {
        u32_in("network.vni", net.vni, 1, limits::MAX_VNI)?
    };
    let mode = match pb::NetworkMode::try_from(net.mode) {
        Ok(pb::NetworkMode::Unspecified | pb::NetworkMode::Managed) => NetworkMode::Managed,
        Ok(pb::NetworkMode::Unmanaged) => NetworkMode::Unmanaged,
        Err(_) => return Err(unknown_enum("network.mode", net.mode)),
    };
    let mut network = Network {
        meta,
        description,
        ipv4,
        ipv6,
        vni,
        mode,
        range_v4: None,
        range_v6: None,
        static_leases: Vec::new(),
        state: NetworkState::Active,
    };
    apply_network_addressing(&mut network, net)?;
    Ok(network)
}

/// Parses the mutable addressing fields (range, static leases) of `net` into `network`.
pub fn apply_network_addressing(network: &mut Network, net: &pb::PrivateNetwork) -> Result<()> {
    let p = "network";
    match network.mode {
        NetworkMode::Unmanaged => {
            for (name, value) in [
                ("start_ipv4", &net.start_ipv4),
                ("end_ipv4", &net.end_ipv4),
                ("start_ipv6", &net.start_ipv6),
                ("end_ipv6", &net.end_ipv6),
            ] {
                if !value.is_empty() {
                    return Err(Error::Inconsistent {
                        field: field(p, name),
                        rule: "only managed networks have an address range; leave it empty",
                    });
                }
            }
            if !net.static_leases.is_empty() {
                return Err(Error::Inconsistent {
                    field: field(p, "static_leases"),
                    rule: "only managed networks have static leases; leave them empty",
                });
            }
            network.range_v4 = None;
            network.range_v6 = None;
            network.static_leases.clear();
        }
        NetworkMode::Managed => {
            network.range_v4 = Some(parse_range_v4(
                p,
                network.ipv4,
                &net.start_ipv4,
                &net.end_ipv4,
            )?);
            network.range_v6 = match network.ipv6 {
                Some(v6) => Some(parse_range_v6(p, v6, &net.start_ipv6, &net.end_ipv6)?),
                None => {
                    for (name, value) in
                        [("start_ipv6", &net.start_ipv6), ("end_ipv6", &net.end_ipv6)]
                    {
                        if !value.is_empty() {
                            return Err(Error::Inconsistent {
                                field: field(p, name),
                                rule: "the network has no IPv6 prefix; set ipv6_prefix or leave it empty",
                            });
                        }
                    }
                    None
                }
            };
            network.static_leases = parse_static_leases(network, &net.static_leases)?;
        }
    }
    Ok(())
}

fn parse_static_leases(network: &Network, leases: &[pb::StaticLease]) -> Result<Vec<StaticLease>> {
    if leases.len() > limits::MAX_STATIC_LEASES {
        return Err(Error::LimitExceeded {
            field: "network.static_leases".into(),
            count: leases.len(),
            limit: limits::MAX_STATIC_LEASES,
        });
    }
    let mut macs = HashSet::new();
    let mut addrs = HashSet::new();
    let mut out = Vec::with_capacity(leases.len());
    for (i, lease) in leases.iter().enumerate() {
        let p = format!("network.static_leases[{i}]");
        let mac = parse_mac(&field(&p, "mac"), &lease.mac)?;
        if !macs.insert(mac) {
            return Err(Error::Duplicate {
                field: field(&p, "mac"),
                value: mac.to_string(),
            });
        }
        let ipv4 = if lease.ipv4.is_empty() {
            None
        } else {
            let f = field(&p, "ipv4");
            let a = parse_ipv4(&f, &lease.ipv4)?;
            let range = network.range_v4.expect("managed networks have a v4 range");
            if !in_range(&range, &a) {
                return Err(Error::AddressOutside {
                    field: f,
                    address: a.into(),
                    within: format!("the range {}-{}", range.start, range.end),
                });
            }
            if !addrs.insert(IpAddr::V4(a)) {
                return Err(Error::Duplicate {
                    field: f,
                    value: a.to_string(),
                });
            }
            Some(a)
        };
        let ipv6 = if lease.ipv6.is_empty() {
            None
        } else {
            let f = field(&p, "ipv6");
            let a = parse_ipv6(&f, &lease.ipv6)?;
            let Some(range) = network.range_v6 else {
                return Err(Error::Inconsistent {
                    field: f,
                    rule: "the network has no IPv6 prefix; leave ipv6 empty",
                });
            };
            if !in_range(&range, &a) {
                return Err(Error::AddressOutside {
                    field: f,
                    address: a.into(),
                    within: format!("the range {}-{}", range.start, range.end),
                });
            }
            if !addrs.insert(IpAddr::V6(a)) {
                return Err(Error::Duplicate {
                    field: f,
                    value: a.to_string(),
                });
            }
            Some(a)
        };
        if ipv4.is_none() && ipv6.is_none() {
            return Err(Error::Missing {
                field: field(&p, "ipv4"),
            });
        }
        out.push(StaticLease { mac, ipv4, ipv6 });
    }
    Ok(out)
}

/// The ordered set of security group ids of a port: UUIDs, no duplicates, within the limit.
pub fn parse_group_ids(field: &str, ids: &[String]) -> Result<Vec<Uuid>> {
    if ids.len() > limits::MAX_GROUPS_PER_PORT {
        return Err(Error::LimitExceeded {
            field: field.into(),
            count: ids.len(),
            limit: limits::MAX_GROUPS_PER_PORT,
        });
    }
    let mut out: Vec<Uuid> = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let id = parse_id(&f, id)?;
        if out.contains(&id) {
            return Err(Error::Duplicate {
                field: f,
                value: id.to_string(),
            });
        }
        out.push(id);
    }
    Ok(out)
}

/// A port of a create request. `meta.id` is left nil; MAC and addresses may be absent (allocate).
/// Whether addresses fit the network is checked by [`crate::ipam::assign`].
pub fn parse_port(port: &pb::Port, now: SystemTime) -> Result<Port> {
    let meta = new_meta("port", port.meta.as_ref(), now)?;
    if port.instance_id.is_empty() {
        return Err(Error::Missing {
            field: "port.instance_id".into(),
        });
    }
    if port.instance_id.len() > limits::MAX_INSTANCE_ID_LEN {
        return Err(Error::LimitExceeded {
            field: "port.instance_id".into(),
            count: port.instance_id.len(),
            limit: limits::MAX_INSTANCE_ID_LEN,
        });
    }
    let node_id = parse_id("port.node_id", &port.node_id)?;
    let network_id = parse_id("port.network_id", &port.network_id)?;
    let mac = if port.mac.is_empty() {
        None
    } else {
        Some(parse_mac("port.mac", &port.mac)?)
    };
    let ipv4 = if port.ipv4.is_empty() {
        None
    } else {
        Some(parse_ipv4("port.ipv4", &port.ipv4)?)
    };
    let ipv6 = if port.ipv6.is_empty() {
        None
    } else {
        Some(parse_ipv6("port.ipv6", &port.ipv6)?)
    };
    let security_group_ids = parse_group_ids("port.security_group_ids", &port.security_group_ids)?;
    Ok(Port {
        meta,
        instance_id: port.instance_id.clone(),
        node_id,
        network_id,
        mac,
        ipv4,
        ipv6,
        security_group_ids,
        state: PortState::Pending,
    })
}

/// One rule; `prefix` is its field path (`group.rules[3]`). A nil id asks for a fresh one.
pub fn parse_rule(prefix: &str, rule: &pb::SecurityRule) -> Result<Rule> {
    let id = parse_optional_id(&field(prefix, "id"), &rule.id)?.unwrap_or_else(Uuid::nil);
    let description = parse_description(&field(prefix, "description"), &rule.description)?;
    let direction = match pb::Direction::try_from(rule.direction) {
        Ok(pb::Direction::Ingress) => Direction::Ingress,
        Ok(pb::Direction::Egress) => Direction::Egress,
        Ok(pb::Direction::Unspecified) => {
            return Err(Error::Missing {
                field: field(prefix, "direction"),
            });
        }
        Err(_) => return Err(unknown_enum(&field(prefix, "direction"), rule.direction)),
    };
    let protocol = match rule.protocol {
        None => {
            return Err(Error::Missing {
                field: field(prefix, "protocol"),
            });
        }
        Some(pb::security_rule::Protocol::ProtocolNumber(n)) => {
            Protocol::from_number(u16_in(&field(prefix, "protocol_number"), n, 0, 255)? as u8)
        }
        Some(pb::security_rule::Protocol::ProtocolName(n)) => {
            let f = field(prefix, "protocol_name");
            match pb::ProtocolName::try_from(n) {
                Ok(pb::ProtocolName::All) => Protocol::All,
                Ok(pb::ProtocolName::Tcp) => Protocol::Tcp,
                Ok(pb::ProtocolName::Udp) => Protocol::Udp,
                Ok(pb::ProtocolName::Icmp) => Protocol::Icmp,
                Ok(pb::ProtocolName::Icmpv6) => Protocol::Icmpv6,
                Ok(pb::ProtocolName::Sctp) => Protocol::Sctp,
                Ok(pb::ProtocolName::Unspecified) => return Err(Error::Missing { field: f }),
                Err(_) => return Err(unknown_enum(&f, n)),
            }
        }
    };
    let ports = if rule.port_from == 0 && rule.port_to == 0 {
        None
    } else {
        if !protocol.has_ports() {
            return Err(Error::Inconsistent {
                field: field(prefix, "port_from"),
                rule: "ports apply only to tcp, udp and sctp; remove the port range",
            });
        }
        let from = u16_in(&field(prefix, "port_from"), rule.port_from, 1, u16::MAX)?;
        let to = if rule.port_to == 0 {
            from
        } else {
            u16_in(&field(prefix, "port_to"), rule.port_to, 1, u16::MAX)?
        };
        if from > to {
            return Err(Error::Inconsistent {
                field: field(prefix, "port_to"),
                rule: "port_to must not be below port_from; swap them",
            });
        }
        Some(PortRange { from, to })
    };
    let icmp = match (rule.icmp_type, rule.icmp_code) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(Error::Inconsistent {
                field: field(prefix, "icmp_code"),
                rule: "an ICMP code needs an ICMP type; set icmp_type",
            });
        }
        (Some(t), code) => {
            if !protocol.is_icmp() {
                return Err(Error::Inconsistent {
                    field: field(prefix, "icmp_type"),
                    rule: "ICMP type and code apply only to icmp and icmpv6; remove them",
                });
            }
            let icmp_type = u16_in(&field(prefix, "icmp_type"), t, 0, 255)? as u8;
            let code = code
                .map(|c| u16_in(&field(prefix, "icmp_code"), c, 0, 255).map(|c| c as u8))
                .transpose()?;
            Some(IcmpMatch { icmp_type, code })
        }
    };
    let remote = match &rule.remote {
        None => Remote::Any,
        Some(pb::security_rule::Remote::RemoteCidr(c)) => {
            let f = field(prefix, "remote_cidr");
            let net = parse_cidr(&f, c)?;
            match (protocol, net) {
                (Protocol::Icmp, IpNetwork::V6(_)) => {
                    return Err(Error::Inconsistent {
                        field: f,
                        rule: "icmp is IPv4 only; use icmpv6 for an IPv6 remote",
                    });
                }
                (Protocol::Icmpv6, IpNetwork::V4(_)) => {
                    return Err(Error::Inconsistent {
                        field: f,
                        rule: "icmpv6 is IPv6 only; use icmp for an IPv4 remote",
                    });
                }
                _ => Remote::Cidr(net),
            }
        }
        Some(pb::security_rule::Remote::RemoteGroupId(g)) => {
            Remote::Group(parse_id(&field(prefix, "remote_group_id"), g)?)
        }
    };
    Ok(Rule {
        id,
        description,
        direction,
        protocol,
        ports,
        icmp,
        remote,
    })
}

/// A rule list: within the limit, rule ids (when given) unique.
pub fn parse_rules(prefix: &str, rules: &[pb::SecurityRule]) -> Result<Vec<Rule>> {
    if rules.len() > limits::MAX_RULES_PER_GROUP {
        return Err(Error::LimitExceeded {
            field: prefix.into(),
            count: rules.len(),
            limit: limits::MAX_RULES_PER_GROUP,
        });
    }
    let mut ids = HashSet::new();
    let mut out = Vec::with_capacity(rules.len());
    for (i, r) in rules.iter().enumerate() {
        let p = format!("{prefix}[{i}]");
        let rule = parse_rule(&p, r)?;
        if !rule.id.is_nil() && !ids.insert(rule.id) {
            return Err(Error::Duplicate {
                field: field(&p, "id"),
                value: rule.id.to_string(),
            });
        }
        out.push(rule);
    }
    Ok(out)
}

/// A security group of a create request (rule ids may be nil: the registry assigns them).
pub fn parse_security_group(group: &pb::SecurityGroup, now: SystemTime) -> Result<SecurityGroup> {
    Ok(SecurityGroup {
        meta: new_meta("group", group.meta.as_ref(), now)?,
        description: parse_description("group.description", &group.description)?,
        rules: parse_rules("group.rules", &group.rules)?,
        state: SecurityGroupState::Active,
        revoked_rule_ids: Vec::new(),
    })
}

/// What to do with flows of removed rules.
pub fn parse_existing_flows(field: &str, value: i32) -> Result<ExistingFlows> {
    match pb::ExistingFlows::try_from(value) {
        Ok(pb::ExistingFlows::Unspecified | pb::ExistingFlows::Keep) => Ok(ExistingFlows::Keep),
        Ok(pb::ExistingFlows::Revoke) => Ok(ExistingFlows::Revoke),
        Err(_) => Err(unknown_enum(field, value)),
    }
}

fn parse_health_check(prefix: &str, hc: Option<&pb::HealthCheck>) -> Result<HealthCheck> {
    let default = pb::HealthCheck::default();
    let hc = hc.unwrap_or(&default);
    let mode = match pb::HealthCheckMode::try_from(hc.mode) {
        Ok(pb::HealthCheckMode::Unspecified | pb::HealthCheckMode::Tcp) => HealthCheckMode::Tcp,
        Ok(pb::HealthCheckMode::Http) => HealthCheckMode::Http,
        Err(_) => return Err(unknown_enum(&field(prefix, "mode"), hc.mode)),
    };
    let port = if hc.port == 0 {
        0
    } else {
        u16_in(&field(prefix, "port"), hc.port, 1, u16::MAX)?
    };
    let interval_ms = if hc.interval_ms == 0 {
        10_000
    } else {
        u32_in(&field(prefix, "interval_ms"), hc.interval_ms, 1000, 300_000)?
    };
    let timeout_ms = if hc.timeout_ms == 0 {
        2000.min(interval_ms)
    } else {
        u32_in(
            &field(prefix, "timeout_ms"),
            hc.timeout_ms,
            100,
            interval_ms,
        )?
    };
    let retries = |name: &str, v: u32, default: u32| {
        if v == 0 {
            Ok(default)
        } else {
            u32_in(&field(prefix, name), v, 1, 20)
        }
    };
    let retries_down = retries("retries_down", hc.retries_down, 3)?;
    let retries_up = retries("retries_up", hc.retries_up, 2)?;
    let (http_path, http_expected_status) = match mode {
        HealthCheckMode::Tcp => {
            if !hc.http_path.is_empty() {
                return Err(Error::Inconsistent {
                    field: field(prefix, "http_path"),
                    rule: "http_path applies only to http health checks; remove it",
                });
            }
            if hc.http_expected_status != 0 {
                return Err(Error::Inconsistent {
                    field: field(prefix, "http_expected_status"),
                    rule: "http_expected_status applies only to http health checks; remove it",
                });
            }
            (String::new(), 0)
        }
        HealthCheckMode::Http => {
            let path = if hc.http_path.is_empty() {
                "/".to_string()
            } else {
                hc.http_path.clone()
            };
            if !path.starts_with('/')
                || path.len() > 1024
                || path.chars().any(|c| c.is_control() || c == ' ')
            {
                return Err(Error::Malformed {
                    field: field(prefix, "http_path"),
                    value: hc.http_path.clone(),
                    expected: "HTTP path starting with '/', without spaces",
                });
            }
            let status = if hc.http_expected_status == 0 {
                200
            } else {
                u16_in(
                    &field(prefix, "http_expected_status"),
                    hc.http_expected_status,
                    100,
                    599,
                )?
            };
            (path, status)
        }
    };
    Ok(HealthCheck {
        mode,
        port,
        interval_ms,
        timeout_ms,
        retries_down,
        retries_up,
        http_path,
        http_expected_status,
    })
}

/// The services of a load balancer: within limits, names and (protocol, port) unique, backends valid.
pub fn parse_services(prefix: &str, services: &[pb::LbService]) -> Result<Vec<LbService>> {
    if services.len() > limits::MAX_SERVICES_PER_LOAD_BALANCER {
        return Err(Error::LimitExceeded {
            field: prefix.into(),
            count: services.len(),
            limit: limits::MAX_SERVICES_PER_LOAD_BALANCER,
        });
    }
    let mut names = HashSet::new();
    let mut listeners = HashSet::new();
    let mut out = Vec::with_capacity(services.len());
    for (i, s) in services.iter().enumerate() {
        let p = format!("{prefix}[{i}]");
        let id = parse_optional_id(&field(&p, "id"), &s.id)?.unwrap_or_else(Uuid::nil);
        let name = parse_name(&field(&p, "name"), &s.name)?;
        if !names.insert(name.clone()) {
            return Err(Error::Duplicate {
                field: field(&p, "name"),
                value: name,
            });
        }
        let protocol = match pb::LbProtocol::try_from(s.protocol) {
            Ok(pb::LbProtocol::Unspecified | pb::LbProtocol::Tcp) => LbProtocol::Tcp,
            Ok(pb::LbProtocol::Udp) => LbProtocol::Udp,
            Err(_) => return Err(unknown_enum(&field(&p, "protocol"), s.protocol)),
        };
        let port = u16_in(&field(&p, "port"), s.port, 1, u16::MAX)?;
        if !listeners.insert((protocol, port)) {
            return Err(Error::Duplicate {
                field: field(&p, "port"),
                value: format!("{protocol:?}/{port}").to_lowercase(),
            });
        }
        let target_port = u16_in(&field(&p, "target_port"), s.target_port, 1, u16::MAX)?;
        let strategy = match pb::LbStrategy::try_from(s.strategy) {
            Ok(pb::LbStrategy::Unspecified | pb::LbStrategy::Maglev) => LbStrategy::Maglev,
            Ok(pb::LbStrategy::SourceIp) => LbStrategy::SourceIp,
            Err(_) => return Err(unknown_enum(&field(&p, "strategy"), s.strategy)),
        };
        if s.backends.len() > limits::MAX_BACKENDS_PER_SERVICE {
            return Err(Error::LimitExceeded {
                field: field(&p, "backends"),
                count: s.backends.len(),
                limit: limits::MAX_BACKENDS_PER_SERVICE,
            });
        }
        let mut backends: Vec<Backend> = Vec::with_capacity(s.backends.len());
        for (j, b) in s.backends.iter().enumerate() {
            let bp = format!("{p}.backends[{j}]");
            let port_id = parse_id(&field(&bp, "port_id"), &b.port_id)?;
            if backends.iter().any(|x| x.port_id == port_id) {
                return Err(Error::Duplicate {
                    field: field(&bp, "port_id"),
                    value: port_id.to_string(),
                });
            }
            let weight = u32_in(
                &field(&bp, "weight"),
                b.weight,
                0,
                limits::MAX_BACKEND_WEIGHT,
            )?;
            backends.push(Backend {
                port_id,
                weight: weight as u16,
                health: if weight == 0 {
                    BackendHealth::Draining
                } else {
                    BackendHealth::Unknown
                },
                health_reason: String::new(),
                health_changed_at: None,
            });
        }
        let mut health_check =
            parse_health_check(&field(&p, "health_check"), s.health_check.as_ref())?;
        if health_check.port == 0 {
            health_check.port = target_port;
        }
        out.push(LbService {
            id,
            name,
            protocol,
            port,
            target_port,
            strategy,
            backends,
            health_check,
        });
    }
    Ok(out)
}

/// A load balancer of a create request.
pub fn parse_load_balancer(lb: &pb::LoadBalancer, now: SystemTime) -> Result<LoadBalancer> {
    let meta = new_meta("load_balancer", lb.meta.as_ref(), now)?;
    let description = parse_description("load_balancer.description", &lb.description)?;
    if lb.vip.is_empty() {
        return Err(Error::Missing {
            field: "load_balancer.vip".into(),
        });
    }
    let vip = parse_ipv4("load_balancer.vip", &lb.vip)?;
    if vip.is_unspecified() || vip.is_multicast() || vip.is_broadcast() || vip.is_loopback() {
        return Err(Error::Inconsistent {
            field: "load_balancer.vip".into(),
            rule: "the VIP must be a unicast, routable IPv4 address",
        });
    }
    let services = parse_services("load_balancer.services", &lb.services)?;
    Ok(LoadBalancer {
        meta,
        description,
        vip,
        state: LoadBalancerState::Creating,
        error_reason: String::new(),
        services,
    })
}

/// A wait timeout: absent = no wait; otherwise 1 ms to 10 minutes.
pub fn parse_wait(field: &str, wait: Option<&pb::Wait>) -> Result<Option<std::time::Duration>> {
    let Some(wait) = wait else { return Ok(None) };
    let Some(timeout) = wait.timeout else {
        return Err(Error::Missing {
            field: format!("{field}.timeout"),
        });
    };
    let ms = timeout
        .seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(timeout.nanos) / 1_000_000);
    if !(1..=600_000).contains(&ms) || timeout.nanos < 0 {
        return Err(Error::OutOfRange {
            field: format!("{field}.timeout"),
            value: ms,
            min: 1,
            max: 600_000,
        });
    }
    Ok(Some(std::time::Duration::from_millis(ms as u64)))
}

#[cfg(test)]
mod tests;
