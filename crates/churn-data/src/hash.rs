//! Stable 64-bit hashes, the same on every platform and Rust version (unlike `std`'s
//! hasher): 64-bit FNV-1a and the splitmix64 finaliser. Fingerprints of training data,
//! user partitions and seeded per-user samples are built from them, so their values may
//! never change.
//!
//! ```
//! use churn_data::hash::{Fnv1a, mix64};
//!
//! let mut h = Fnv1a::default();
//! h.write(b"u0000042");
//! assert_eq!(h.finish(), Fnv1a::of(b"u0000042"));
//! assert_ne!(mix64(h.finish()), h.finish());
//! ```

/// A running 64-bit FNV-1a hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    /// Adds bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// The hash so far.
    pub fn finish(&self) -> u64 {
        self.0
    }

    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> u64 {
        let mut h = Self::default();
        h.write(bytes);
        h.finish()
    }
}

/// The splitmix64 finaliser: spreads every input bit over the whole output, which FNV-1a
/// alone does not for short, similar strings (their top bits stay alike).
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        // The published FNV-1a 64 test vectors.
        assert_eq!(Fnv1a::of(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(Fnv1a::of(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(Fnv1a::of(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(mix64(0), 0);
    }
}
