//! Exports for the bell relay (core/bell.zig): the one isolate that turns
//! rings into `Atomics.notify`, and the isolates that register with it.
const std = @import("std");
const abi = @import("abi.zig");
const bell = @import("../core/bell.zig");
const cq_mod = @import("../core/cq.zig");

var nonce_once = std.once(makeNonce);
var nonce: u32 = 0;

fn makeNonce() void {
    var seed: u64 = @truncate(@as(u128, @bitCast(std.time.nanoTimestamp())));
    seed ^= @intFromPtr(&nonce);
    nonce = @truncate(std.hash.Wyhash.hash(seed, std.mem.asBytes(&seed)) & 0x7fff_ffff);
    if (nonce == 0) nonce = 1;
}

/// A number naming this copy of the library in this process: the name of
/// the BroadcastChannel its isolates register on, so two copies loaded
/// side by side never mix their relays.
export fn avx_bell_nonce() i32 {
    nonce_once.call();
    return @intCast(nonce);
}

/// 1: the caller must start a relay (none runs, or a start failed).
export fn avx_bell_claim() i32 {
    return @intFromBool(bell.claim());
}

/// 1 while a relay runs.
export fn avx_bell_ready() i32 {
    return @intFromBool(bell.ready());
}

/// The calling isolate becomes the relay: its epoch (> 0), or 0 when
/// another relay runs (the caller leaves).
export fn avx_bell_attach() i32 {
    return @intCast(cq_mod.attachRelay());
}

/// Relay: the registration of queue `id` arrived (1), or is stale (0).
export fn avx_bell_registered(id: f64, epoch: u32) i32 {
    if (!(id >= 1 and id <= std.math.maxInt(i32)) or @floor(id) != id) return abi.Code.invalid_argument.int();
    return @intFromBool(bell.registered(@intFromFloat(id), epoch));
}

/// Relay: registrations announced and not arrived yet (stay in JS).
export fn avx_bell_awaited() i32 {
    return @intCast(bell.awaited());
}

/// An isolate is about to post queue `id`'s registration: 1, or 0 when no
/// relay runs (wait for its "ready" message) or the queue is not open.
export fn avx_bell_announce(id: f64) i32 {
    if (!(id >= 1 and id <= std.math.maxInt(i32)) or @floor(id) != id) return abi.Code.invalid_argument.int();
    return @intFromBool(bell.announce(@intFromFloat(id)));
}

/// Relay: block until queues were rung (or one must register, or
/// `timeout` ms passed; negative: no limit) and write their ids to `out`.
/// Returns how many.
export fn avx_bell_wait(out: ?[*]u32, cap: u32, timeout: f64) i32 {
    if (cap == 0) return abi.Code.invalid_argument.int();
    const buf = (out orelse return abi.Code.invalid_argument.int())[0..cap];
    const t: ?u64 = if (timeout >= 0 and !std.math.isInf(timeout)) @intFromFloat(@min(timeout, 1.0e9) * std.time.ns_per_ms) else null;
    return @intCast(bell.wait(buf, t));
}

/// Wake the relay (its isolate is being torn down: it must return to
/// JavaScript to learn it).
export fn avx_bell_kick() void {
    bell.kick();
}
