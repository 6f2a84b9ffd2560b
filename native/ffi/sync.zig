//! Exports for sync (see native/README.md): Mutex, RwLock, Semaphore,
//! Condvar. Each export decodes its arguments through abi.zig and calls
//! the primitive; the policies live in native/sync/.
const std = @import("std");
const abi = @import("abi.zig");
const Code = abi.Code;
const Deadline = @import("../os/clock.zig").Deadline;
const Mutex = @import("../sync/mutex.zig").Mutex;
const RwLock = @import("../sync/rwlock.zig").RwLock;
const Semaphore = @import("../sync/semaphore.zig").Semaphore;
const Condvar = @import("../sync/condvar.zig").Condvar;

/// Allocate a `T` for a `_new` export and register it; NaN on failure.
fn create(comptime T: type, kind: abi.Kind, value: T) f64 {
    const obj = abi.allocator.create(T) catch |err| return abi.failF64(err);
    obj.* = value;
    const h = abi.register(kind, obj, Destroy(T).destroy);
    if (std.math.isNan(h)) abi.allocator.destroy(obj);
    return h;
}

fn Destroy(comptime T: type) type {
    return struct {
        fn destroy(obj: *anyopaque) void {
            const t: *T = @ptrCast(@alignCast(obj));
            t.deinit();
            abi.allocator.destroy(t);
        }
    };
}

/// 0 for an async operation that finished at once, else its token.
fn token(result: code.Error!u32) i32 {
    const t = result catch |err| return abi.fail(err);
    std.debug.assert(t <= std.math.maxInt(i32));
    return @intCast(t);
}

// ---------------------------------------------------------------- mutex

export fn avx_mutex_new() f64 {
    return create(Mutex, .mutex, .{});
}

export fn avx_mutex_try_lock(h: f64) i32 {
    const m = abi.object(Mutex, h, .mutex) catch |err| return abi.fail(err);
    return if (m.tryLock()) 0 else Code.would_block.int();
}

export fn avx_mutex_lock(h: f64, t: f64) i32 {
    const m = abi.object(Mutex, h, .mutex) catch |err| return abi.fail(err);
    return abi.status(m.lock(Deadline.fromMs(t)));
}

export fn avx_mutex_lock_async(h: f64, q: f64) i32 {
    const m = abi.object(Mutex, h, .mutex) catch |err| return abi.fail(err);
    const cq = abi.queue(q) catch |err| return abi.fail(err);
    return token(m.lockAsync(cq));
}

export fn avx_mutex_unlock(h: f64) i32 {
    const m = abi.object(Mutex, h, .mutex) catch |err| return abi.fail(err);
    return abi.status(m.unlock());
}

export fn avx_mutex_is_locked(h: f64) i32 {
    const m = abi.object(Mutex, h, .mutex) catch |err| return abi.fail(err);
    return @intFromBool(m.isLocked());
}

// ---------------------------------------------------------------- rwlock

export fn avx_rwlock_new() f64 {
    return create(RwLock, .rwlock, .{});
}

export fn avx_rwlock_try_read(h: f64) i32 {
    const rw = abi.object(RwLock, h, .rwlock) catch |err| return abi.fail(err);
    return if (rw.tryLock(.read)) 0 else Code.would_block.int();
}

export fn avx_rwlock_try_write(h: f64) i32 {
    const rw = abi.object(RwLock, h, .rwlock) catch |err| return abi.fail(err);
    return if (rw.tryLock(.write)) 0 else Code.would_block.int();
}

export fn avx_rwlock_read(h: f64, t: f64) i32 {
    const rw = abi.object(RwLock, h, .rwlock) catch |err| return abi.fail(err);
    return abi.status(rw.lock(.read, Deadline.fromMs(t)));
}

export fn avx_rwlock_write(h: f64, t: f64) i32 {
    const rw = abi.object(RwLock, h, .rwlock) catch |err| return abi.fail(err);
    return abi.status(rw.lock(.write, Deadline.fromMs(t)));
}

export fn avx_rwlock_read_async(h: f64, q: f64) i32 {
    const rw = abi.object(RwLock, h, .rwlock) catch |err| return abi.fail(err);
    const cq = abi.queue(q) catch |err| return abi.fail(err);
    return token(rw.lockAsync(.read, cq));
}

export fn avx_rwlock_write_async(h: f64, q: f64) i32 {
    const rw = abi.object(RwLock, h, .rwlock) catch |err| return abi.fail(err);
    const cq = abi.queue(q) catch |err| return abi.fail(err);
    return token(rw.lockAsync(.write, cq));
}

export fn avx_rwlock_unlock_read(h: f64) i32 {
    const rw = abi.object(RwLock, h, .rwlock) catch |err| return abi.fail(err);
    return abi.status(rw.unlockRead());
}

export fn avx_rwlock_unlock_write(h: f64) i32 {
    const rw = abi.object(RwLock, h, .rwlock) catch |err| return abi.fail(err);
    return abi.status(rw.unlockWrite());
}

// ------------------------------------------------------------- semaphore

/// `permits` must be a whole number in 0 ..= 2^31-1.
export fn avx_semaphore_new(permits: f64) f64 {
    const max: f64 = @floatFromInt(Semaphore.max_permits);
    if (!(permits >= 0 and permits <= max) or @floor(permits) != permits) {
        return abi.failF64(error.InvalidArgument);
    }
    return create(Semaphore, .semaphore, Semaphore.init(@intFromFloat(permits)));
}

export fn avx_semaphore_try_acquire(h: f64, n: u32) i32 {
    const s = abi.object(Semaphore, h, .semaphore) catch |err| return abi.fail(err);
    return abi.status(s.tryAcquire(n));
}

export fn avx_semaphore_acquire(h: f64, n: u32, t: f64) i32 {
    const s = abi.object(Semaphore, h, .semaphore) catch |err| return abi.fail(err);
    return abi.status(s.acquire(n, Deadline.fromMs(t)));
}

export fn avx_semaphore_acquire_async(h: f64, n: u32, q: f64) i32 {
    const s = abi.object(Semaphore, h, .semaphore) catch |err| return abi.fail(err);
    const cq = abi.queue(q) catch |err| return abi.fail(err);
    return token(s.acquireAsync(n, cq));
}

export fn avx_semaphore_release(h: f64, n: u32) i32 {
    const s = abi.object(Semaphore, h, .semaphore) catch |err| return abi.fail(err);
    return abi.status(s.release(n));
}

export fn avx_semaphore_available(h: f64) i32 {
    const s = abi.object(Semaphore, h, .semaphore) catch |err| return abi.fail(err);
    return @intCast(s.available());
}

// --------------------------------------------------------------- condvar

export fn avx_condvar_new() f64 {
    return create(Condvar, .condvar, .{});
}

export fn avx_condvar_wait(cv_h: f64, m_h: f64, t: f64) i32 {
    const cv = abi.object(Condvar, cv_h, .condvar) catch |err| return abi.fail(err);
    const m = abi.object(Mutex, m_h, .mutex) catch |err| return abi.fail(err);
    return abi.status(cv.wait(m, Deadline.fromMs(t)));
}

export fn avx_condvar_wait_async(cv_h: f64, m_h: f64, q: f64) i32 {
    const cv = abi.object(Condvar, cv_h, .condvar) catch |err| return abi.fail(err);
    const m = abi.object(Mutex, m_h, .mutex) catch |err| return abi.fail(err);
    const cq = abi.queue(q) catch |err| return abi.fail(err);
    return token(cv.waitAsync(m, cq));
}

export fn avx_condvar_notify_one(cv_h: f64) i32 {
    const cv = abi.object(Condvar, cv_h, .condvar) catch |err| return abi.fail(err);
    return @intCast(cv.notifyOne());
}

export fn avx_condvar_notify_all(cv_h: f64) i32 {
    const cv = abi.object(Condvar, cv_h, .condvar) catch |err| return abi.fail(err);
    return @intCast(cv.notifyAll());
}

// ---------------------------------------------------------------- tests

const testing = std.testing;
const handles = @import("../core/handles.zig");
const code = @import("../core/code.zig");
const cq_mod = @import("../core/cq.zig");

fn release(h: f64) void {
    handles.releaseHeld(handles.fromF64(h).?);
}

test "ffi sync: bad handles return codes and touch nothing" {
    const m = avx_mutex_new();
    const rw = avx_rwlock_new();
    try testing.expect(!std.math.isNan(m) and !std.math.isNan(rw));
    // Wrong kind.
    try testing.expectEqual(Code.wrong_kind.int(), avx_rwlock_try_read(m));
    try testing.expectEqual(Code.wrong_kind.int(), avx_mutex_try_lock(rw));
    try testing.expectEqual(Code.wrong_kind.int(), avx_semaphore_available(m));
    try testing.expectEqual(Code.wrong_kind.int(), avx_condvar_notify_one(m));
    try testing.expectEqual(Code.wrong_kind.int(), avx_condvar_wait(rw, m, 0));
    // Forged.
    const nan = std.math.nan(f64);
    try testing.expectEqual(Code.invalid_handle.int(), avx_mutex_unlock(nan));
    try testing.expectEqual(Code.invalid_handle.int(), avx_mutex_lock(-1, 0));
    try testing.expectEqual(Code.invalid_handle.int(), avx_rwlock_unlock_read(1.5));
    try testing.expectEqual(Code.invalid_handle.int(), avx_semaphore_release(0, 1));
    try testing.expectEqual(Code.invalid_handle.int(), avx_condvar_notify_all(123456789));
    // Stale.
    release(m);
    release(rw);
    try testing.expectEqual(Code.invalid_handle.int(), avx_mutex_try_lock(m));
    try testing.expectEqual(Code.invalid_handle.int(), avx_mutex_is_locked(m));
    try testing.expectEqual(Code.invalid_handle.int(), avx_rwlock_try_write(rw));
    // A bad queue id.
    const m2 = avx_mutex_new();
    defer release(m2);
    try testing.expectEqual(Code.invalid_argument.int(), avx_mutex_lock_async(m2, 0));
    try testing.expectEqual(Code.invalid_argument.int(), avx_mutex_lock_async(m2, nan));
    try testing.expectEqual(@as(i32, 0), avx_mutex_is_locked(m2));
}

test "ffi sync: mutex and rwlock round trip" {
    const m = avx_mutex_new();
    defer release(m);
    try testing.expectEqual(@as(i32, 0), avx_mutex_try_lock(m));
    try testing.expectEqual(@as(i32, 1), avx_mutex_is_locked(m));
    try testing.expectEqual(Code.would_block.int(), avx_mutex_try_lock(m));
    try testing.expectEqual(Code.timeout.int(), avx_mutex_lock(m, 1));
    try testing.expectEqual(@as(i32, 0), avx_mutex_unlock(m));
    try testing.expectEqual(Code.not_locked.int(), avx_mutex_unlock(m));
    try testing.expectEqual(@as(i32, 0), avx_mutex_lock(m, -1));
    try testing.expectEqual(@as(i32, 0), avx_mutex_unlock(m));

    const rw = avx_rwlock_new();
    defer release(rw);
    try testing.expectEqual(@as(i32, 0), avx_rwlock_read(rw, std.math.inf(f64)));
    try testing.expectEqual(@as(i32, 0), avx_rwlock_try_read(rw));
    try testing.expectEqual(Code.would_block.int(), avx_rwlock_try_write(rw));
    try testing.expectEqual(Code.timeout.int(), avx_rwlock_write(rw, 0));
    try testing.expectEqual(Code.not_locked.int(), avx_rwlock_unlock_write(rw));
    try testing.expectEqual(@as(i32, 0), avx_rwlock_unlock_read(rw));
    try testing.expectEqual(@as(i32, 0), avx_rwlock_unlock_read(rw));
    try testing.expectEqual(Code.not_locked.int(), avx_rwlock_unlock_read(rw));
    try testing.expectEqual(@as(i32, 0), avx_rwlock_write(rw, 5));
    try testing.expectEqual(@as(i32, 0), avx_rwlock_unlock_write(rw));
}

test "ffi sync: async operations through a queue" {
    const id = cq_mod.open();
    try testing.expect(id > 0);
    const q: f64 = @floatFromInt(id);
    defer cq_mod.close(cq_mod.get(q).?);
    var out: [2]i32 = undefined;

    const m = avx_mutex_new();
    defer release(m);
    try testing.expectEqual(@as(i32, 0), avx_mutex_lock_async(m, q));
    const t = avx_mutex_lock_async(m, q);
    try testing.expect(t > 0);
    try testing.expectEqual(@as(i32, 0), avx_mutex_unlock(m));
    try testing.expectEqual(@as(u32, 1), cq_mod.get(q).?.drain(&out));
    try testing.expectEqual([2]i32{ t, 0 }, out);
    try testing.expectEqual(@as(i32, 1), avx_mutex_is_locked(m));
    try testing.expectEqual(@as(i32, 0), avx_mutex_unlock(m));

    const rw = avx_rwlock_new();
    defer release(rw);
    try testing.expectEqual(@as(i32, 0), avx_rwlock_write_async(rw, q));
    const r = avx_rwlock_read_async(rw, q);
    try testing.expect(r > 0);
    try testing.expectEqual(@as(i32, 0), avx_rwlock_unlock_write(rw));
    try testing.expectEqual(@as(u32, 1), cq_mod.get(q).?.drain(&out));
    try testing.expectEqual([2]i32{ r, 0 }, out);
    try testing.expectEqual(@as(i32, 0), avx_rwlock_unlock_read(rw));

    const s = avx_semaphore_new(1);
    defer release(s);
    const a = avx_semaphore_acquire_async(s, 2, q);
    try testing.expect(a > 0);
    try testing.expectEqual(Code.invalid_argument.int(), avx_semaphore_acquire_async(s, 1 << 31, q));
    try testing.expectEqual(@as(i32, 0), avx_semaphore_release(s, 1));
    try testing.expectEqual(@as(u32, 1), cq_mod.get(q).?.drain(&out));
    try testing.expectEqual([2]i32{ a, 0 }, out);

    const cv = avx_condvar_new();
    defer release(cv);
    try testing.expectEqual(Code.not_locked.int(), avx_condvar_wait_async(cv, m, q));
    try testing.expectEqual(@as(i32, 0), avx_mutex_lock(m, -1));
    const w = avx_condvar_wait_async(cv, m, q);
    try testing.expect(w > 0);
    try testing.expectEqual(@as(i32, 0), avx_mutex_is_locked(m));
    try testing.expectEqual(@as(i32, 1), avx_condvar_notify_all(cv));
    try testing.expectEqual(@as(u32, 1), cq_mod.get(q).?.drain(&out));
    try testing.expectEqual([2]i32{ w, 0 }, out);
    try testing.expectEqual(@as(i32, 1), avx_mutex_is_locked(m));
    try testing.expectEqual(Code.timeout.int(), avx_condvar_wait(cv, m, 1));
    try testing.expectEqual(@as(i32, 0), avx_mutex_unlock(m));
    try testing.expectEqual(@as(i32, 0), avx_condvar_notify_one(cv));
}

test "ffi sync: semaphore arguments" {
    for ([_]f64{ -1, 1.5, std.math.nan(f64), std.math.inf(f64), 2147483648 }) |bad| {
        code.last_error = 0;
        try testing.expect(std.math.isNan(avx_semaphore_new(bad)));
        try testing.expectEqual(Code.invalid_argument.int(), code.last_error);
    }
    const s = avx_semaphore_new(2147483647);
    defer release(s);
    try testing.expectEqual(@as(i32, 2147483647), avx_semaphore_available(s));
    try testing.expectEqual(Code.invalid_argument.int(), avx_semaphore_release(s, 1));
    try testing.expectEqual(@as(i32, 0), avx_semaphore_try_acquire(s, 2147483647));
    try testing.expectEqual(Code.would_block.int(), avx_semaphore_try_acquire(s, 1));
    try testing.expectEqual(Code.timeout.int(), avx_semaphore_acquire(s, 1, 1));
    try testing.expectEqual(Code.invalid_argument.int(), avx_semaphore_acquire(s, 0x8000_0000, -1));
    try testing.expectEqual(@as(i32, 0), avx_semaphore_acquire(s, 0, -1));
    try testing.expectEqual(@as(i32, 0), avx_semaphore_release(s, 5));
    try testing.expectEqual(@as(i32, 5), avx_semaphore_available(s));
    try testing.expectEqual(Code.invalid_argument.int(), avx_semaphore_release(s, 2147483643));
    try testing.expectEqual(@as(i32, 5), avx_semaphore_available(s));
    const z = avx_semaphore_new(0);
    defer release(z);
    try testing.expectEqual(@as(i32, 0), avx_semaphore_available(z));
}

test "ffi sync: releasing the last handle frees the object" {
    const before = handles.live();
    const hs = [_]f64{ avx_mutex_new(), avx_rwlock_new(), avx_semaphore_new(3), avx_condvar_new() };
    try testing.expectEqual(before + 4, handles.live());
    for (hs) |h| release(h);
    try testing.expectEqual(before, handles.live());
}
