//! The generator's random source: `SplitMix64` (Steele, Lea, Flood 2014), written
//! out here so that a seed names the same world for as long as the generator
//! code is unchanged, whatever version of `rand` the workspace moves to.

/// A small deterministic generator with the draws the world generator needs.
#[derive(Debug, Clone)]
pub struct Dice {
    state: u64,
}

impl Dice {
    /// A generator for `seed`; `stream` separates independent uses of one seed.
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut dice = Self {
            state: seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03),
        };
        // Discard one output so nearby seeds do not start alike.
        dice.next_u64();
        dice
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`0` when `n` is 0); the modulo bias is below
    /// 2^-50 for the small `n` used here.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        let n64 = u64::try_from(n).unwrap_or(u64::MAX);
        usize::try_from(self.next_u64() % n64).unwrap_or(0)
    }

    /// A number in `lo..=hi`.
    pub fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    /// True with probability `percent` / 100.
    pub fn percent(&mut self, percent: u32) -> bool {
        self.below(100) < usize::try_from(percent).unwrap_or(100)
    }

    /// One element of a non-empty slice (the first for an empty one is a
    /// caller bug; it returns `None`).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len()))
    }

    /// One value chosen by weight; `None` if every weight is 0.
    pub fn weighted<T: Clone>(&mut self, table: &[(u32, T)]) -> Option<T> {
        let total: u32 = table.iter().map(|(w, _)| *w).sum();
        if total == 0 {
            return None;
        }
        let mut roll = u32::try_from(self.below(usize::try_from(total).unwrap_or(1))).unwrap_or(0);
        for (weight, value) in table {
            if roll < *weight {
                return Some(value.clone());
            }
            roll -= weight;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_draws_and_streams_differ() {
        let draws = |seed, stream| {
            let mut d = Dice::new(seed, stream);
            (0..8).map(|_| d.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(draws(7, 1), draws(7, 1));
        assert_ne!(draws(7, 1), draws(7, 2));
        assert_ne!(draws(7, 1), draws(8, 1));
    }

    /// `SplitMix64`'s published first output for state 0 (after one step).
    #[test]
    fn splitmix_reference_value() {
        let mut d = Dice { state: 0 };
        assert_eq!(d.next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn ranges_and_weights_hold() {
        let mut d = Dice::new(1, 0);
        for _ in 0..1000 {
            assert!(d.below(3) < 3);
            let b = d.between(2, 4);
            assert!((2..=4).contains(&b));
            assert_eq!(d.weighted(&[(0, 'a'), (5, 'b')]), Some('b'));
        }
        assert_eq!(d.weighted::<char>(&[(0, 'a')]), None);
        assert_eq!(d.below(0), 0);
    }
}
