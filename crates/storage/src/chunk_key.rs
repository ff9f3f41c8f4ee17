//! Chunk identity: Prometheus's label-set fingerprint and Cortex's external chunk key
//! `<user>/<fingerprint>:<from>:<through>:<checksum>` (all four in lowercase hex; from/through
//! in ms; checksum CRC-32C of the stored object), the object key and the index's chunk id.

use neocortex_core::Labels;

use crate::error::StorageError;

const FNV_OFFSET: u64 = 14_695_981_039_346_656_037;
const FNV_PRIME: u64 = 1_099_511_628_211;
/// Prometheus's label separator byte in fingerprints.
const SEPARATOR: u8 = 0xff;

/// Prometheus's `labelSetToFingerprint`: FNV-1a 64 over `name 0xff value 0xff` for each label
/// in name order. Cortex keys chunks by it.
pub fn fingerprint(labels: &Labels) -> u64 {
    let mut hash = FNV_OFFSET;
    let mut add = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(FNV_PRIME);
        }
    };
    for label in labels {
        add(label.name.as_bytes());
        add(&[SEPARATOR]);
        add(label.value.as_bytes());
        add(&[SEPARATOR]);
    }
    hash
}

/// Where a chunk is and what it covers, as its external key says.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkRef {
    /// The tenant.
    pub user: String,
    /// The series fingerprint.
    pub fingerprint: u64,
    /// First sample time (ms).
    pub from_ms: i64,
    /// Last sample time (ms).
    pub through_ms: i64,
    /// CRC-32C (Castagnoli) of the encoded object.
    pub checksum: u32,
}

impl ChunkRef {
    /// The external key: `<user>/<fp hex>:<from hex>:<through hex>:<checksum hex>`.
    pub fn external_key(&self) -> String {
        format!(
            "{}/{:x}:{}:{}:{:x}",
            self.user,
            self.fingerprint,
            go_hex(self.from_ms),
            go_hex(self.through_ms),
            self.checksum
        )
    }

    /// Parses an external key, checking it belongs to `user`.
    pub fn parse(user: &str, key: &str) -> Result<Self, StorageError> {
        let invalid = || StorageError::corrupt("chunk key", format!("invalid chunk id {key:?}"));
        let (key_user, rest) = key.split_once('/').ok_or_else(invalid)?;
        if rest.contains('/') {
            return Err(invalid());
        }
        if key_user != user {
            return Err(StorageError::corrupt(
                "chunk key",
                format!("chunk {key:?} does not belong to {user:?}"),
            ));
        }
        let mut parts = rest.split(':');
        let (Some(fp), Some(from), Some(through), Some(checksum), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        Ok(Self {
            user: user.to_string(),
            fingerprint: u64::from_str_radix(fp, 16).map_err(|_| invalid())?,
            from_ms: parse_go_hex(from).ok_or_else(invalid)?,
            through_ms: parse_go_hex(through).ok_or_else(invalid)?,
            checksum: u32::from_str_radix(checksum, 16).map_err(|_| invalid())?,
        })
    }

    /// Whether the chunk may hold samples in `[start_ms, end_ms]`.
    pub fn overlaps(&self, start_ms: i64, end_ms: i64) -> bool {
        self.from_ms <= end_ms && self.through_ms >= start_ms
    }
}

/// The first-sample time (`from`) of an external chunk key `<user>/<fp>:<from>:<through>:<crc>`:
/// it picks the chunk table a table-based object store keeps the object in (Cortex's
/// `ChunkTableFor(chunk.From)`). Only `from` is checked, so any key of that shape works.
pub fn key_from_ms(key: &str) -> Result<i64, StorageError> {
    let invalid = || {
        StorageError::BadQuery(format!(
            "{key:?} is not a chunk key <user>/<fingerprint>:<from>:<through>:<checksum>: \
             chunks in tables are placed by their from time"
        ))
    };
    let (_, rest) = key.split_once('/').ok_or_else(invalid)?;
    let from = rest.split(':').nth(1).ok_or_else(invalid)?;
    parse_go_hex(from).ok_or_else(invalid)
}

/// Go's `%x` of a signed integer: a minus sign then the magnitude.
fn go_hex(value: i64) -> String {
    if value < 0 {
        format!("-{:x}", value.unsigned_abs())
    } else {
        format!("{value:x}")
    }
}

fn parse_go_hex(text: &str) -> Option<i64> {
    match text.strip_prefix('-') {
        Some(magnitude) => i64::from_str_radix(magnitude, 16).ok().map(|v| -v),
        None => i64::from_str_radix(text, 16).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_matches_prometheus() {
        // Empty label set: the FNV-1a offset basis, as model.LabelSet{}.Fingerprint().
        assert_eq!(fingerprint(&Labels::empty()), FNV_OFFSET);
        let a = Labels::from_pairs([("__name__", "up"), ("job", "a")]);
        let b = Labels::from_pairs([("__name__", "up"), ("job", "b")]);
        assert_ne!(fingerprint(&a), fingerprint(&b));
        assert_eq!(fingerprint(&a), fingerprint(&a.clone()));
    }

    #[test]
    fn external_key_round_trip() {
        let chunk = ChunkRef {
            user: "team-a".into(),
            fingerprint: 0xdead_beef_0012,
            from_ms: 1_577_836_800_000,
            through_ms: 1_577_880_000_000,
            checksum: 0x1234_abcd,
        };
        let key = chunk.external_key();
        assert_eq!(key, "team-a/deadbeef0012:16f5e66e800:16f60fa1600:1234abcd");
        assert_eq!(ChunkRef::parse("team-a", &key).unwrap(), chunk);
        assert!(ChunkRef::parse("team-b", &key).is_err());
        assert_eq!(key_from_ms(&key).unwrap(), 1_577_836_800_000);
        assert_eq!(key_from_ms("t/empty:-10:0:0").unwrap(), -16);
        for bad in ["nouser", "t/1", "t/1:zz:2:3"] {
            assert!(matches!(key_from_ms(bad), Err(StorageError::BadQuery(_))), "{bad}");
        }
        for bad in ["team-a/1:2:3", "team-a/x:2:3:4", "nouser", "team-a/1:2:3:4:5", "team-a/a/1:2:3:4"] {
            assert!(ChunkRef::parse("team-a", bad).is_err(), "{bad}");
        }
    }
}
