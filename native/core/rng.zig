//! A small xorshift64 generator: the scheduler's per-worker choice of
//! steal victims, and the random choices of the stress tests.
//!
//! Deterministic from its seed and stream (for the scheduler, the config
//! seed and the worker index), so a failing stress seed replays the same
//! choices on the same interleaving. Not for anything security related.
const std = @import("std");

pub const Rng = struct {
    x: u64,

    /// Distinct, non-zero states for every (seed, stream) pair: the stream
    /// (a worker index) is mixed in with splitmix64's finaliser so nearby
    /// indices do not give correlated sequences.
    pub fn init(seed: u64, stream: u32) Rng {
        var z = seed +% (@as(u64, stream) +% 1) *% 0x9E3779B97F4A7C15;
        z = (z ^ (z >> 30)) *% 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) *% 0x94D049BB133111EB;
        z ^= z >> 31;
        // xorshift has one fixed point, zero.
        return .{ .x = if (z == 0) 0x9E3779B97F4A7C15 else z };
    }

    pub fn next(r: *Rng) u64 {
        std.debug.assert(r.x != 0);
        r.x ^= r.x << 13;
        r.x ^= r.x >> 7;
        r.x ^= r.x << 17;
        return r.x;
    }

    /// Uniform enough in [0, n) (multiply-shift; bias < n / 2^32).
    pub fn below(r: *Rng, n: u32) u32 {
        std.debug.assert(n > 0);
        const hi: u64 = r.next() >> 32;
        return @intCast((hi * n) >> 32);
    }
};

test "rng: deterministic per seed and stream, in range" {
    var a = Rng.init(42, 0);
    var b = Rng.init(42, 0);
    var c = Rng.init(42, 1);
    var differs = false;
    var seen: [5]bool = @splat(false);
    for (0..1000) |_| {
        const x = a.below(5);
        try std.testing.expectEqual(x, b.below(5));
        try std.testing.expect(x < 5);
        seen[x] = true;
        if (c.next() != a.x) differs = true;
    }
    try std.testing.expect(differs);
    for (seen) |s| try std.testing.expect(s);
    var z = Rng.init(0, 0);
    try std.testing.expect(z.next() != 0);
}
