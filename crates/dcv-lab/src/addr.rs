//! Address blocks: every lab instance gets its own 127.A.B.0/24 and
//! `fd5c:dc5:0:AB::/64` (inside the `fd5c:dc5::/48` that `scripts/lab-net-setup`
//! makes local), so parallel tests (and parallel test processes) never share
//! a listening address.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU32, Ordering};

/// DNS servers per block: hosts 1..=199 (200.. are HTTP responders).
pub(crate) const HOSTS_PER_BLOCK: usize = 199;

/// Process-wide counter, mixed with the pid so two processes start far apart.
static NEXT: AtomicU32 = AtomicU32::new(0);

/// One lab's address block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Block {
    a: u8,
    b: u8,
}

impl Block {
    /// A fresh block. A is kept in 16..=254 so 127.0.x (system services) and
    /// 127.255.x (broadcast-looking) are never used.
    #[cfg(test)]
    pub(crate) fn allocate() -> Self {
        Self::allocate_run(1)
    }

    /// The first of `count` consecutive blocks (a lab with more than
    /// [`HOSTS_PER_BLOCK`] servers); later labs of this process start after
    /// the run.
    pub(crate) fn allocate_run(count: u32) -> Self {
        // Each counter step is 7 blocks apart (see below).
        let n = NEXT.fetch_add(count.div_ceil(7).max(1), Ordering::Relaxed);
        let pid = std::process::id();
        // Spread processes with a multiplicative hash; consecutive labs in one
        // process take consecutive blocks.
        let base = pid.wrapping_mul(2_654_435_761) >> 8;
        let index = base.wrapping_add(n.wrapping_mul(7)) % (239 * 256);
        Self {
            a: 16 + u8::try_from(index / 256).unwrap_or(0),
            b: u8::try_from(index % 256).unwrap_or(0),
        }
    }

    /// The block `k` places after this one (wrapping inside the range
    /// [`Block::allocate_run`] uses).
    pub(crate) fn offset(self, k: u32) -> Self {
        let index = (u32::from(self.a - 16) * 256 + u32::from(self.b) + k) % (239 * 256);
        Self {
            a: 16 + u8::try_from(index / 256).unwrap_or(0),
            b: u8::try_from(index % 256).unwrap_or(0),
        }
    }

    /// IPv4 address of host `n` (1..=254).
    pub(crate) fn v4(self, n: u8) -> Ipv4Addr {
        Ipv4Addr::new(127, self.a, self.b, n)
    }

    /// IPv6 address of host `n`: `fd5c:dc5:0:AB::n`. The block sits in the
    /// fourth group because the third belongs to the local /48.
    pub(crate) fn v6(self, n: u8) -> Ipv6Addr {
        Ipv6Addr::new(
            0xfd5c,
            0x0dc5,
            0,
            u16::from(self.a) << 8 | u16::from(self.b),
            0,
            0,
            0,
            u16::from(n),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_differ_and_stay_in_range() {
        let a = Block::allocate();
        let b = Block::allocate();
        assert_ne!(a, b);
        for block in [a, b] {
            let v4 = block.v4(1);
            assert!(v4.is_loopback());
            assert!(v4.octets()[1] >= 16);
            assert_eq!(block.v6(1).segments()[..3], [0xfd5c, 0x0dc5, 0]);
        }
    }

    #[test]
    fn offsets_stay_in_range_and_wrap() {
        let last = Block { a: 254, b: 255 };
        assert_eq!(last.offset(1), Block { a: 16, b: 0 });
        assert_eq!(Block { a: 16, b: 255 }.offset(1), Block { a: 17, b: 0 });
        let run = Block::allocate_run(30);
        let next = Block::allocate();
        assert!((0..30).all(|k| run.offset(k) != next));
    }
}
