//! The futex contract every blocking primitive in avx is built on.
//!
//! `wait` sleeps while `*word == expect`; it may return early (spurious
//! wake-ups are allowed and every caller loops). `wake` wakes up to
//! `count` sleepers on `word`. Each OS gets one small file with its raw
//! calls, chosen at compile time, so a Zig upgrade or a new OS touches one
//! file.
const std = @import("std");
const builtin = @import("builtin");

const backend = switch (builtin.os.tag) {
    .linux => @import("futex_linux.zig"),
    .macos, .ios, .tvos, .watchos, .visionos => @import("futex_darwin.zig"),
    .windows => @import("futex_windows.zig"),
    else => @compileError("avx: no futex backend for this OS"),
};

pub const Word = std.atomic.Value(u32);

pub const WaitResult = enum { woken, timed_out };

/// Sleep while `word` holds `expect`, for at most `timeout_ns` (null: no
/// limit). `woken` includes spurious returns: callers re-check their state.
pub fn wait(word: *const Word, expect: u32, timeout_ns: ?u64) WaitResult {
    return backend.wait(&word.raw, expect, timeout_ns);
}

/// Wake at most one sleeper.
pub fn wakeOne(word: *const Word) void {
    backend.wake(&word.raw, false);
}

/// Wake every sleeper.
pub fn wakeAll(word: *const Word) void {
    backend.wake(&word.raw, true);
}

test "futex: wait returns at once when the word differs" {
    var w = Word.init(1);
    try std.testing.expectEqual(WaitResult.woken, wait(&w, 0, null));
}

test "futex: wait times out" {
    var w = Word.init(0);
    var t = try std.time.Timer.start();
    const r = wait(&w, 0, 2 * std.time.ns_per_ms);
    // A spurious wake-up is allowed; a timeout must not come early.
    if (r == .timed_out) try std.testing.expect(t.read() >= 1 * std.time.ns_per_ms);
}

test "futex: wake releases a sleeping thread" {
    var w = Word.init(0);
    const T = struct {
        fn run(word: *Word) void {
            while (word.load(.acquire) == 0) _ = wait(word, 0, null);
        }
    };
    const th = try std.Thread.spawn(.{}, T.run, .{&w});
    std.Thread.sleep(2 * std.time.ns_per_ms);
    w.store(1, .release);
    wakeAll(&w);
    th.join();
}
