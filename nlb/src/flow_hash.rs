//! The flow hash of the LB dataplane, in Rust: the same function as `ebpf/include/lb_hash.h`, so
//! the controller, the agents and `sdnctl trace` can say which Maglev slot (and so which backend)
//! a flow gets without running the program. The dataplane fixtures check the C side against the
//! same definition.
//!
//! - 5-tuple strategy: `MurmurHash3_x86_32(client address || VIP || client port || VIP port,
//!   seed = IP protocol number)`, addresses and ports in network byte order (12 bytes);
//! - source-ip strategy: `MurmurHash3_x86_32(client address, seed = 0)` (4 bytes);
//! - the slot is `hash % table_size`; the outer UDP source port of the encapsulation is
//!   `0xc000 | (hash & 0x3fff)`.

use std::net::Ipv4Addr;

/// MurmurHash3_x86_32 (Austin Appleby's reference) over `key` with `seed`.
pub fn murmur3_32(key: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h = seed;
    let mut blocks = key.chunks_exact(4);
    for block in &mut blocks {
        let k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        h ^= k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let mut k = 0u32;
        for (i, b) in tail.iter().enumerate() {
            k |= u32::from(*b) << (8 * i);
        }
        h ^= k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    }
    h ^= key.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// The 5-tuple hash of a client flow to a VIP.
pub fn five_tuple(
    client: Ipv4Addr,
    vip: Ipv4Addr,
    client_port: u16,
    vip_port: u16,
    proto: u8,
) -> u32 {
    let mut key = [0u8; 12];
    key[..4].copy_from_slice(&client.octets());
    key[4..8].copy_from_slice(&vip.octets());
    key[8..10].copy_from_slice(&client_port.to_be_bytes());
    key[10..].copy_from_slice(&vip_port.to_be_bytes());
    murmur3_32(&key, u32::from(proto))
}

/// The source-ip affinity hash.
pub fn source_ip(client: Ipv4Addr) -> u32 {
    murmur3_32(&client.octets(), 0)
}

/// The Maglev slot of `hash` in a table of `table_size` slots.
pub fn slot(hash: u32, table_size: u32) -> u32 {
    hash % table_size
}

/// The outer UDP source port the LB node uses for a flow of `hash` (ECMP entropy).
pub fn encap_source_port(hash: u32) -> u16 {
    0xc000 | (hash & 0x3fff) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_matches_published_vectors() {
        assert_eq!(murmur3_32(b"", 0), 0);
        assert_eq!(murmur3_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_32(b"test", 0), 0xba6b_d213);
        assert_eq!(murmur3_32(b"Hello, world!", 1234), 0xfaf6_cdb3);
        assert_eq!(
            murmur3_32(b"The quick brown fox jumps over the lazy dog", 0),
            0x2e4f_f723
        );
    }

    #[test]
    fn the_tuple_is_laid_out_in_network_order() {
        let (c, v) = (Ipv4Addr::new(198, 18, 100, 5), Ipv4Addr::new(198, 19, 0, 1));
        let key = [198, 18, 100, 5, 198, 19, 0, 1, 0x9c, 0x40, 0, 80];
        assert_eq!(five_tuple(c, v, 40000, 80, 6), murmur3_32(&key, 6));
        assert_ne!(
            five_tuple(c, v, 40000, 80, 6),
            five_tuple(c, v, 40000, 80, 17)
        );
        assert_eq!(source_ip(c), murmur3_32(&c.octets(), 0));
        assert!(slot(five_tuple(c, v, 1, 2, 6), 13) < 13);
        assert_eq!(encap_source_port(0xffff_ffff), 0xffff);
        assert_eq!(encap_source_port(0), 0xc000);
    }
}
