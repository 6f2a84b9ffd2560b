//! Exports of the timer wheel (native/timer/). Times are f64 milliseconds
//! on one process-wide monotonic clock (`avx_timer_now_ms`), shared by
//! every isolate. An async timer is an ordinary completion-queue operation:
//! its token completes with result 0 when it fires, and `avx_cq_cancel`
//! cancels it.
//!
//! | export                                   | result                                              |
//! | ---------------------------------------- | --------------------------------------------------- |
//! | `avx_timer_sleep_async(ms, q) i32`       | 0 (`ms` is 0), token, `invalid_argument`, `limit`   |
//! | `avx_timer_until_async(at_ms, q) i32`    | 0 (`at_ms` passed), token, `invalid_argument`, ...  |
//! | `avx_timer_now_ms() f64`                 | the clock, ms since the wheel started               |
//! | `avx_timer_metrics(out: *f64, len) i32`  | f64s written: armed, fired, cancelled, pending, wakeups |
const std = @import("std");
const abi = @import("abi.zig");
const Code = abi.Code;
const driver = @import("../timer/driver.zig");

const ns_per_ms: f64 = std.time.ns_per_ms;
const max_delay: f64 = @floatFromInt(driver.max_delay_ms);

/// Counters `avx_timer_metrics` writes, in order.
pub const metrics_len: u32 = 5;

/// Complete after `ms` milliseconds (fractions allowed; fires at the first
/// 1 ms tick at or after the deadline). `ms` must be in 0 ..= 2^42.
export fn avx_timer_sleep_async(ms: f64, q: f64) i32 {
    if (!(ms >= 0 and ms <= max_delay)) return Code.invalid_argument.int();
    const cq = abi.queue(q) catch |err| return abi.fail(err);
    if (ms == 0) return 0;
    const d = driver.running() catch |err| return abi.fail(err);
    const now_ns = d.nowNs();
    return token(d.armAsync(cq, now_ns + nsFromMs(ms), now_ns));
}

/// Complete once `avx_timer_now_ms()` reaches `at_ms`. Already past
/// (including any negative time): 0. NaN, infinite, or more than 2^42 ms
/// ahead: `invalid_argument`.
export fn avx_timer_until_async(at_ms: f64, q: f64) i32 {
    if (std.math.isNan(at_ms) or std.math.isInf(at_ms)) return Code.invalid_argument.int();
    const cq = abi.queue(q) catch |err| return abi.fail(err);
    const d = driver.running() catch |err| return abi.fail(err);
    const now_ns = d.nowNs();
    const now_ms = @as(f64, @floatFromInt(now_ns)) / ns_per_ms;
    if (at_ms <= now_ms) return 0;
    if (at_ms - now_ms > max_delay) return Code.invalid_argument.int();
    return token(d.armAsync(cq, nsFromMs(at_ms), now_ns));
}

/// The timers' clock: ms since the wheel started, with sub-ms precision.
/// The same in every isolate (unlike `performance.now()`).
export fn avx_timer_now_ms() f64 {
    return driver.instance().nowMs();
}

/// Write up to `len` f64s [armed, fired, cancelled, pending, wakeups] to
/// `out`; returns how many.
export fn avx_timer_metrics(out: ?[*]f64, len: u32) i32 {
    const p = out orelse return if (len == 0) 0 else Code.invalid_argument.int();
    const m = driver.instance().metrics();
    const values = [metrics_len]u64{ m.armed, m.fired, m.cancelled, m.pending, m.wakeups };
    const n = @min(len, metrics_len);
    for (values[0..n], p[0..n]) |v, *slot| slot.* = @floatFromInt(v);
    return @intCast(n);
}

/// Rounded up to the next ns, so rounding never makes a timer early.
fn nsFromMs(ms: f64) u64 {
    std.debug.assert(ms >= 0 and ms <= 2 * max_delay);
    return @intFromFloat(@ceil(ms * ns_per_ms));
}

fn token(result: error{Limit}!u32) i32 {
    const t = result catch |err| return abi.fail(err);
    std.debug.assert(t <= std.math.maxInt(i32));
    return @intCast(t);
}

// ---------------------------------------------------------------- tests

const testing = std.testing;
const cq_mod = @import("../core/cq.zig");

test "ffi timer: bad arguments" {
    const id: f64 = @floatFromInt(cq_mod.open());
    defer _ = cq_mod.close(cq_mod.get(id).?);
    const bad = Code.invalid_argument.int();
    for ([_]f64{ -1, -0.001, std.math.nan(f64), std.math.inf(f64), -std.math.inf(f64), max_delay + 1 }) |ms| {
        try testing.expectEqual(bad, avx_timer_sleep_async(ms, id));
    }
    try testing.expectEqual(bad, avx_timer_until_async(std.math.nan(f64), id));
    try testing.expectEqual(bad, avx_timer_until_async(std.math.inf(f64), id));
    try testing.expectEqual(bad, avx_timer_until_async(avx_timer_now_ms() + max_delay + 1000, id));
    // Not a queue.
    try testing.expectEqual(bad, avx_timer_sleep_async(1, 0));
    try testing.expectEqual(bad, avx_timer_until_async(1e9, 12345.5));
    // Due now.
    try testing.expectEqual(@as(i32, 0), avx_timer_sleep_async(0, id));
    try testing.expectEqual(@as(i32, 0), avx_timer_until_async(-5, id));
    try testing.expectEqual(@as(i32, 0), avx_timer_until_async(avx_timer_now_ms(), id));
}

test "ffi timer: sleep and until complete through the queue, not early" {
    const id: f64 = @floatFromInt(cq_mod.open());
    const cq = cq_mod.get(id).?;
    defer _ = cq_mod.close(cq);
    const start = avx_timer_now_ms();
    const a = avx_timer_sleep_async(2.5, id);
    const b = avx_timer_until_async(start + 4, id);
    const c = avx_timer_sleep_async(60_000, id);
    try testing.expect(a > 0 and b > 0 and c > 0);
    var out: [8]i32 = undefined;
    var seen: u32 = 0;
    var spins: u32 = 0;
    while (seen < 2) : (spins += 1) {
        try testing.expect(spins < 10_000);
        const n = cq.drain(&out);
        for (0..n) |i| {
            const t = out[2 * i];
            try testing.expect(t == a or t == b);
            try testing.expectEqual(@as(i32, 0), out[2 * i + 1]);
            try testing.expect(avx_timer_now_ms() >= start + if (t == a) @as(f64, 2.5) else 4);
        }
        seen += n;
        if (n == 0) std.Thread.sleep(std.time.ns_per_ms / 2);
    }
    var before: [metrics_len]f64 = undefined;
    try testing.expectEqual(@as(i32, metrics_len), avx_timer_metrics(&before, metrics_len));
    try testing.expect(cq.cancel(cq.lookup(@intCast(c)).?));
    var after: [metrics_len + 2]f64 = undefined;
    try testing.expectEqual(@as(i32, metrics_len), avx_timer_metrics(&after, after.len));
    try testing.expectEqual(before[2] + 1, after[2]);
    try testing.expectEqual(@as(i32, 2), avx_timer_metrics(&after, 2));
    try testing.expectEqual(@as(i32, 0), avx_timer_metrics(null, 0));
}
