//! Which memcached server holds a key: a consistent-hash ring (ketama style: every server owns
//! many points on a 64-bit circle; a key belongs to the first point at or after its hash), so
//! adding or removing one server moves only the keys it gains or owned. Without consistent
//! hashing keys are spread by `hash % servers` (every key moves when the list changes).

use sha2::{Digest, Sha256};

/// Points each server places on the ring; more points spread keys more evenly.
const POINTS_PER_SERVER: usize = 160;

/// The servers of one cache and the rule that maps a key hash onto them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerSelector {
    servers: Vec<String>,
    /// (point, server index), sorted by point; empty without consistent hashing.
    ring: Vec<(u64, usize)>,
    consistent: bool,
}

/// The first eight bytes of SHA-256 of `data`, big endian.
pub fn hash64(data: &[u8]) -> u64 {
    let digest = Sha256::digest(data);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

impl ServerSelector {
    /// A selector over `servers` (sorted and deduplicated, so every process that resolves the
    /// same addresses picks the same server for a key).
    pub fn new(mut servers: Vec<String>, consistent: bool) -> Self {
        servers.sort();
        servers.dedup();
        let mut ring = Vec::new();
        if consistent {
            ring.reserve(servers.len() * POINTS_PER_SERVER);
            for (index, server) in servers.iter().enumerate() {
                for point in 0..POINTS_PER_SERVER {
                    ring.push((hash64(format!("{server}-{point}").as_bytes()), index));
                }
            }
            ring.sort_unstable();
        }
        Self { servers, ring, consistent }
    }

    /// The servers, sorted.
    pub fn servers(&self) -> &[String] {
        &self.servers
    }

    /// The index (into [`Self::servers`]) of the server owning `key_hash`; `None` without servers.
    pub fn pick(&self, key_hash: u64) -> Option<usize> {
        if self.servers.is_empty() {
            return None;
        }
        if !self.consistent {
            return Some((key_hash % self.servers.len() as u64) as usize);
        }
        let at = self.ring.partition_point(|(point, _)| *point < key_hash);
        let (_, server) = self.ring.get(at).or_else(|| self.ring.first())?;
        Some(*server)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("10.0.0.{i}:11211")).collect()
    }

    fn owners(selector: &ServerSelector, keys: u64) -> Vec<String> {
        (0..keys)
            .map(|k| selector.servers()[selector.pick(hash64(&k.to_be_bytes())).unwrap()].clone())
            .collect()
    }

    #[test]
    fn spreads_keys_over_every_server() {
        let selector = ServerSelector::new(servers(4), true);
        let owners = owners(&selector, 10_000);
        for server in selector.servers() {
            let share = owners.iter().filter(|o| *o == server).count();
            assert!((1_500..=3_500).contains(&share), "{server} owns {share} of 10000 keys");
        }
    }

    #[test]
    fn removing_a_server_moves_only_its_keys() {
        let before = ServerSelector::new(servers(5), true);
        let mut fewer = servers(5);
        let removed = fewer.remove(2);
        let after = ServerSelector::new(fewer, true);
        let (old, new) = (owners(&before, 10_000), owners(&after, 10_000));
        for (o, n) in old.iter().zip(&new) {
            if *o != removed {
                assert_eq!(o, n, "a key of a remaining server moved");
            }
        }
        // Without consistent hashing most keys move.
        let modulo_before = owners(&ServerSelector::new(servers(5), false), 10_000);
        let modulo_after = owners(&ServerSelector::new(servers(4), false), 10_000);
        let moved = modulo_before.iter().zip(&modulo_after).filter(|(a, b)| a != b).count();
        assert!(moved > 5_000, "{moved}");
    }

    #[test]
    fn order_of_addresses_does_not_matter_and_empty_picks_none() {
        let mut reversed = servers(3);
        reversed.reverse();
        assert_eq!(ServerSelector::new(servers(3), true), ServerSelector::new(reversed, true));
        assert_eq!(ServerSelector::new(Vec::new(), true).pick(42), None);
    }
}
