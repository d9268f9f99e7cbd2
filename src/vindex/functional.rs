//! The functional vindexes, byte-identical to Vitess's.

use des::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use md5::{Digest, Md5};

use super::{Value, Vindex, VindexError};

/// `hash`: DES with an all-zero key over the value as a big-endian uint64.
#[derive(Debug, Default, Clone, Copy)]
pub struct Hash;

impl Vindex for Hash {
    fn type_name(&self) -> &'static str {
        "hash"
    }

    fn map(&self, value: &Value) -> Result<Vec<u8>, VindexError> {
        Ok(hash_u64(value.to_u64()?).to_vec())
    }
}

/// DES-encrypts a uint64 (big-endian) with the all-zero key, as Vitess's `hash` vindex does.
pub fn hash_u64(v: u64) -> [u8; 8] {
    // The key schedule is the same for every value: compute it once.
    static CIPHER: std::sync::OnceLock<des::Des> = std::sync::OnceLock::new();
    let cipher = CIPHER.get_or_init(|| des::Des::new(&[0u8; 8].into()));
    let mut block = v.to_be_bytes().into();
    cipher.encrypt_block(&mut block);
    block.into()
}

/// The inverse of [`hash_u64`] (Vitess's `vunhash`): the uint64 whose hash is `ksid`; `None`
/// unless `ksid` is 8 bytes. `lookup_hash` vindexes store keyspace ids this way.
pub fn unhash_u64(ksid: &[u8]) -> Option<u64> {
    static CIPHER: std::sync::OnceLock<des::Des> = std::sync::OnceLock::new();
    let cipher = CIPHER.get_or_init(|| des::Des::new(&[0u8; 8].into()));
    let bytes: [u8; 8] = ksid.try_into().ok()?;
    let mut block = bytes.into();
    cipher.decrypt_block(&mut block);
    Some(u64::from_be_bytes(block.into()))
}

/// `xxhash`: xxHash64 (seed 0) of the value's bytes, little-endian.
#[derive(Debug, Default, Clone, Copy)]
pub struct XxHash;

impl Vindex for XxHash {
    fn type_name(&self) -> &'static str {
        "xxhash"
    }

    fn map(&self, value: &Value) -> Result<Vec<u8>, VindexError> {
        Ok(xxhash_rust::xxh64::xxh64(&value.to_bytes()?, 0).to_le_bytes().to_vec())
    }
}

/// `numeric`: the value as a big-endian uint64.
#[derive(Debug, Default, Clone, Copy)]
pub struct Numeric;

impl Vindex for Numeric {
    fn type_name(&self) -> &'static str {
        "numeric"
    }

    fn map(&self, value: &Value) -> Result<Vec<u8>, VindexError> {
        Ok(value.to_u64()?.to_be_bytes().to_vec())
    }
}

/// `reverse_bits`: the uint64 with its bits reversed, big-endian.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReverseBits;

impl Vindex for ReverseBits {
    fn type_name(&self) -> &'static str {
        "reverse_bits"
    }

    fn map(&self, value: &Value) -> Result<Vec<u8>, VindexError> {
        Ok(value.to_u64()?.reverse_bits().to_be_bytes().to_vec())
    }
}

/// `binary`: the value's bytes as they are.
#[derive(Debug, Default, Clone, Copy)]
pub struct Binary;

impl Vindex for Binary {
    fn type_name(&self) -> &'static str {
        "binary"
    }

    fn map(&self, value: &Value) -> Result<Vec<u8>, VindexError> {
        value.to_bytes()
    }
}

/// `binary_md5`: MD5 of the value's bytes.
#[derive(Debug, Default, Clone, Copy)]
pub struct BinaryMd5;

impl Vindex for BinaryMd5 {
    fn type_name(&self) -> &'static str {
        "binary_md5"
    }

    fn map(&self, value: &Value) -> Result<Vec<u8>, VindexError> {
        Ok(Md5::digest(value.to_bytes()?).to_vec())
    }
}

/// `null`: every value, NULL included, maps to keyspace id `0x00`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Null;

impl Vindex for Null {
    fn type_name(&self) -> &'static str {
        "null"
    }

    fn map(&self, _value: &Value) -> Result<Vec<u8>, VindexError> {
        Ok(vec![0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex_of(v: &dyn Vindex, value: Value) -> String {
        hex::encode(v.map(&value).unwrap())
    }

    /// Vitess's own known answers.
    #[test]
    fn hash_known_answers() {
        for (input, want) in [
            (1, "166b40b44aba4bd6"),
            (2, "06e7ea22ce92708f"),
            (3, "4eb190c9a2fa169c"),
            (4, "d2fd8867d50d2dfe"),
            (5, "70bb023c810ca87a"),
            (6, "f098480ac4c4be71"),
            (0, "8ca64de9c1b123a7"),
            (-1, "355550b2150e2451"),
        ] {
            assert_eq!(hex_of(&Hash, Value::Int(input)), want, "hash({input})");
        }
        assert_eq!(hex_of(&Hash, Value::Bytes(b"1".to_vec())), "166b40b44aba4bd6");
        // lookup_hash stores keyspace ids unhashed: Vitess's vunhash.
        assert_eq!(unhash_u64(&hex::decode("166b40b44aba4bd6").unwrap()), Some(1));
        for v in [0u64, 2, 1 << 40, u64::MAX] {
            assert_eq!(unhash_u64(&hash_u64(v)), Some(v));
        }
        assert_eq!(unhash_u64(b"short"), None);
        assert!(Hash.map(&Value::Bytes(b"x".to_vec())).is_err());
        assert!(Hash.map(&Value::Null).is_err());
    }

    #[test]
    fn xxhash_known_answers() {
        assert_eq!(hex_of(&XxHash, Value::Bytes(b"test1".to_vec())), "d01ab7e4d6978f0b");
        assert_eq!(hex_of(&XxHash, Value::Int(1)), "d46405367612b4b7");
    }

    #[test]
    fn other_known_answers() {
        assert_eq!(hex_of(&BinaryMd5, Value::Bytes(b"Test".to_vec())), "0cbc6611f5540bd0809a388dc95a615b");
        assert_eq!(hex_of(&ReverseBits, Value::Int(1)), "8000000000000000");
        assert_eq!(hex_of(&ReverseBits, Value::Int(3)), "c000000000000000");
        assert_eq!(hex_of(&Numeric, Value::Int(1)), "0000000000000001");
        assert_eq!(hex_of(&Numeric, Value::UInt(u64::MAX)), "ffffffffffffffff");
        assert_eq!(hex_of(&Binary, Value::Bytes(b"ab".to_vec())), "6162");
        assert_eq!(hex_of(&Null, Value::Null), "00");
    }

    #[test]
    fn hash_spreads_over_two_shards() {
        use crate::vindex::keyrange::KeyRange;
        let low = KeyRange::parse_shard_name("-80").unwrap();
        let in_low = (1..=1000).filter(|i| low.contains(&hash_u64(*i))).count();
        assert!((400..600).contains(&in_low), "{in_low} of 1000 in -80");
    }
}
