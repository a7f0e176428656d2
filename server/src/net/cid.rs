//! Connection ids that name the process that issued them, so a QUIC-aware
//! load balancer in front of several server processes can send every packet
//! of a connection to its process, even after the phone's address changed
//! (docs/scale.md, "Balancers"; ADR 0027).
//!
//! The layout follows QUIC-LB's unencrypted mode in spirit
//! (draft-ietf-quic-load-balancers), [`CID_LEN`] = 12 octets:
//!
//! ```text
//! octet 0      config rotation (3 bits, always 0b000) | length - 1 (5 bits, 11)
//! octets 1-2   server id, big-endian (`[server] server_id`, `--server-id`)
//! octets 3-7   random nonce
//! octets 8-11  tag: BLAKE3 keyed by the certificate's key, over octets 0-7
//! ```
//!
//! A balancer reads the first octet of the destination connection id of a
//! short-header packet (right after the packet's own first octet) to learn
//! the length and config, then the two octets after it. The tag lets every
//! process of a deployment (they share the certificate and so the key), and
//! the same process after a restart, recognise an id as one of theirs
//! without state: a packet for a connection nobody holds any more (its
//! process died, the balancer sent it elsewhere) is answered with a
//! stateless reset, which every process computes alike from the same key,
//! so the phone learns at once that it must reconnect instead of waiting
//! out its idle timeout. Ids of a foreign key are dropped without answer.
//!
//! The server id is in clear: an observer can tell which process serves a
//! connection (a few bits), never link two ids of a connection beyond that.

use std::time::Duration;

use quinn_proto::{ConnectionId, ConnectionIdGenerator, InvalidCid};

/// Length of every connection id the server issues.
pub const CID_LEN: usize = 12;
/// The config rotation codepoint in the top 3 bits of octet 0. QUIC-LB
/// reserves 0b111 for ids a balancer cannot route; a future encrypted
/// layout would take another codepoint.
const CONFIG: u8 = 0b000;
const SERVER_ID: std::ops::Range<usize> = 1..3;
const NONCE: std::ops::Range<usize> = 3..8;
const TAG: std::ops::Range<usize> = 8..CID_LEN;

/// The first octet of every id: config rotation and self-described length.
const FIRST_OCTET: u8 = (CONFIG << 5) | (CID_LEN as u8 - 1);

/// Issues ids carrying `server_id`; see the module's documentation.
pub struct ServerIdGenerator {
    server_id: u16,
    key: [u8; 32],
    lifetime: Option<Duration>,
}

impl ServerIdGenerator {
    /// `key` is the deployment's connection-id key
    /// ([`crate::tls::Identity::connection_id_key`]): the same on every
    /// process serving one certificate, and across restarts.
    pub fn new(server_id: u16, key: u64) -> Self {
        Self {
            server_id,
            key: blake3::derive_key("gridwarden 2026 quic connection id tag", &key.to_le_bytes()),
            lifetime: None,
        }
    }

    fn tag(&self, head: &[u8]) -> [u8; 4] {
        let hash = blake3::keyed_hash(&self.key, head);
        hash.as_bytes()[..4].try_into().expect("4 bytes")
    }
}

impl ConnectionIdGenerator for ServerIdGenerator {
    fn generate_cid(&mut self) -> ConnectionId {
        let mut cid = [0u8; CID_LEN];
        cid[0] = FIRST_OCTET;
        cid[SERVER_ID].copy_from_slice(&self.server_id.to_be_bytes());
        cid[NONCE].copy_from_slice(&rand::random::<[u8; 5]>());
        let tag = self.tag(&cid[..TAG.start]);
        cid[TAG].copy_from_slice(&tag);
        ConnectionId::new(&cid)
    }

    /// Any process of the deployment issued it: the server id is not
    /// checked, so a sibling's orphaned connection gets a stateless reset.
    fn validate(&self, cid: &ConnectionId) -> Result<(), InvalidCid> {
        if cid.len() != CID_LEN || cid[0] != FIRST_OCTET {
            return Err(InvalidCid);
        }
        match self.tag(&cid[..TAG.start])[..] == cid[TAG] {
            true => Ok(()),
            false => Err(InvalidCid),
        }
    }

    fn cid_len(&self) -> usize {
        CID_LEN
    }

    fn cid_lifetime(&self) -> Option<Duration> {
        self.lifetime
    }
}

/// The server id inside a connection id of this layout, as a balancer reads
/// it (no key needed); `None` for an id of another layout or config.
pub fn server_id(cid: &[u8]) -> Option<u16> {
    if cid.len() != CID_LEN || cid[0] != FIRST_OCTET {
        return None;
    }
    Some(u16::from_be_bytes([
        cid[SERVER_ID.start],
        cid[SERVER_ID.start + 1],
    ]))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_id_names_its_server_and_none_repeats() {
        for server in [0u16, 1, 7, 0x0102, u16::MAX] {
            let mut generator = ServerIdGenerator::new(server, 42);
            let mut seen = HashSet::new();
            for _ in 0..20_000 {
                let cid = generator.generate_cid();
                assert_eq!(cid.len(), generator.cid_len());
                assert_eq!(server_id(&cid), Some(server), "{cid:?}");
                assert!(generator.validate(&cid).is_ok());
                assert!(seen.insert(cid), "{cid:?} issued twice");
            }
        }
    }

    #[test]
    fn siblings_recognise_each_others_ids_and_strangers_do_not() {
        let mut one = ServerIdGenerator::new(1, 42);
        let two = ServerIdGenerator::new(2, 42);
        let stranger = ServerIdGenerator::new(1, 43);
        let cid = one.generate_cid();
        assert!(two.validate(&cid).is_ok(), "a sibling resets it");
        assert!(stranger.validate(&cid).is_err(), "another key drops it");

        // A changed octet anywhere fails the tag, the length or the config.
        for i in 0..CID_LEN {
            let mut bytes = cid.to_vec();
            bytes[i] ^= 0x01;
            assert!(one.validate(&ConnectionId::new(&bytes)).is_err(), "{i}");
        }
        assert!(one
            .validate(&ConnectionId::new(&cid[..CID_LEN - 1]))
            .is_err());
        assert_eq!(server_id(&cid[..CID_LEN - 1]), None);
        assert_eq!(server_id(&[0xE0; CID_LEN]), None, "unroutable config");
    }

    #[test]
    fn the_first_octet_describes_config_and_length() {
        let cid = ServerIdGenerator::new(0x0A0B, 1).generate_cid();
        assert_eq!(cid[0] >> 5, 0, "config rotation 0");
        assert_eq!(usize::from(cid[0] & 0x1f) + 1, CID_LEN);
        assert_eq!(&cid[1..3], &[0x0A, 0x0B]);
    }
}
