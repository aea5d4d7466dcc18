//! The etcd key layout. Everything lives under `/sdn/v1/`; values are protobuf (`sdn.v1`) unless said.
//!
//! | key | value | written by |
//! | --- | --- | --- |
//! | `/sdn/v1/nodes/<node-id>` | `Node` | node create/update, agent hello |
//! | `/sdn/v1/networks/<network-id>` | `PrivateNetwork` | network create/update |
//! | `/sdn/v1/ports/<port-id>` | `Port` | port create/update |
//! | `/sdn/v1/security-groups/<group-id>` | `SecurityGroup` | group create/update |
//! | `/sdn/v1/load-balancers/<lb-id>` | `LoadBalancer` | load balancer create/update |
//! | `/sdn/v1/vnis/<vni>` | network id (text) | network create: one VNI, one network |
//! | `/sdn/v1/vips/<vip>` | load balancer id (text) | load balancer create: one VIP, one LB |
//! | `/sdn/v1/leases/<network-id>/<ip>` | port id (text) | port create: the IPAM lease |
//! | `/sdn/v1/macs/<network-id>/<mac>` | port id (text) | port create: one MAC per network |
//! | `/sdn/v1/refs/<kind>/<id>/<user-kind>/<user-id>` | empty | whoever refers to `<kind>/<id>` |
//!
//! **Architecture Invariant**: index and reference keys are written in the same transaction as the
//! object they describe, with guards (`mod_revision == 0` for a unique index key), so they can never
//! disagree with the objects. A delete checks the object's `refs/` prefix is empty and guards it with
//! a prefix compare, so a concurrent new reference either commits first (and the delete is refused)
//! or fails its own guard on the deleted object.

use std::net::IpAddr;

use uuid::Uuid;

use crate::model::{Kind, Mac, Vni};

/// Root of every key.
pub const ROOT: &str = "/sdn/v1/";

/// Path segment of a kind in keys.
pub fn segment(kind: Kind) -> &'static str {
    match kind {
        Kind::Node => "nodes",
        Kind::Network => "networks",
        Kind::Port => "ports",
        Kind::SecurityGroup => "security-groups",
        Kind::SecurityRule => "security-rules",
        Kind::LoadBalancer => "load-balancers",
    }
}

/// Prefix of every object of a kind.
pub fn objects(kind: Kind) -> String {
    format!("{ROOT}{}/", segment(kind))
}

/// Key of one object.
pub fn object(kind: Kind, id: Uuid) -> String {
    format!("{ROOT}{}/{id}", segment(kind))
}

/// Unique-VNI index key.
pub fn vni(vni: Vni) -> String {
    format!("{ROOT}vnis/{vni}")
}

/// Prefix of the VNI index.
pub fn vnis() -> String {
    format!("{ROOT}vnis/")
}

/// Unique-VIP index key.
pub fn vip(vip: IpAddr) -> String {
    format!("{ROOT}vips/{vip}")
}

/// Prefix of a network's leases.
pub fn leases(network: Uuid) -> String {
    format!("{ROOT}leases/{network}/")
}

/// One lease.
pub fn lease(network: Uuid, ip: IpAddr) -> String {
    format!("{ROOT}leases/{network}/{ip}")
}

/// One MAC of a network.
pub fn mac(network: Uuid, mac: Mac) -> String {
    format!("{ROOT}macs/{network}/{mac}")
}

/// Prefix of the references to an object.
pub fn refs(kind: Kind, id: Uuid) -> String {
    format!("{ROOT}refs/{}/{id}/", segment(kind))
}

/// A reference from `user` to `target`.
pub fn reference(target: (Kind, Uuid), user: (Kind, Uuid)) -> String {
    format!("{}{}/{}", refs(target.0, target.1), segment(user.0), user.1)
}

/// The referring object of a reference key under `refs(kind, id)`.
pub fn parse_reference(prefix: &str, key: &str) -> Option<(Kind, Uuid)> {
    let rest = key.strip_prefix(prefix)?;
    let (kind, id) = rest.split_once('/')?;
    let kind = OBJECT_KINDS.into_iter().find(|k| segment(*k) == kind)?;
    Some((kind, Uuid::try_parse(id).ok()?))
}

/// The kind and id of an object key (`/sdn/v1/<kind>/<id>`); None for any other key.
pub fn parse_object(key: &str) -> Option<(Kind, Uuid)> {
    let rest = key.strip_prefix(ROOT)?;
    let (segment_name, id) = rest.split_once('/')?;
    let kind = OBJECT_KINDS
        .into_iter()
        .find(|k| segment(*k) == segment_name)?;
    Some((kind, Uuid::try_parse(id).ok()?))
}

/// Every kind stored as an object key.
pub const OBJECT_KINDS: [Kind; 5] = [
    Kind::Node,
    Kind::Network,
    Kind::Port,
    Kind::SecurityGroup,
    Kind::LoadBalancer,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let id = Uuid::from_u128(1);
        assert_eq!(
            object(Kind::SecurityGroup, id),
            "/sdn/v1/security-groups/00000000-0000-0000-0000-000000000001"
        );
        let r = reference((Kind::SecurityGroup, id), (Kind::Port, Uuid::from_u128(2)));
        assert_eq!(
            parse_reference(&refs(Kind::SecurityGroup, id), &r),
            Some((Kind::Port, Uuid::from_u128(2)))
        );
        assert_eq!(
            lease(id, "198.18.0.1".parse().unwrap()),
            "/sdn/v1/leases/00000000-0000-0000-0000-000000000001/198.18.0.1"
        );
        assert_eq!(
            parse_object(&object(Kind::Port, id)),
            Some((Kind::Port, id))
        );
        assert_eq!(
            parse_object(&lease(id, "198.18.0.1".parse().unwrap())),
            None
        );
        assert_eq!(parse_object(&r), None);
    }
}
