//! Learning that a thread has ended: the one signal every way an isolate
//! can end has in common.
//!
//! A Deno isolate (the main one, a Worker, a node:worker_threads Worker)
//! runs its JavaScript on one OS thread for its whole life, and that thread
//! exits once the isolate is gone, whether it returned, called
//! `self.close()`, threw, or was terminated from outside. Deno gives a
//! module no notice of any of these (an `unload` listener in a Worker runs
//! for none of them), but the OS runs a thread's TLS destructors when it
//! exits. So a thread that owns native state tags itself with `watch`, and
//! `on_exit` runs on that thread, after its isolate was torn down.
//!
//! POSIX: a pthread key with a destructor. Windows: a fiber-local storage
//! slot with a callback (FlsAlloc), which Windows calls at thread exit.
//! The main thread of a process that exits does not run them: the process
//! is going away, with all native state.
const std = @import("std");
const builtin = @import("builtin");

/// Called on an exiting thread with the tag it was watched with.
pub const OnExit = *const fn (tag: u32) void;

var handler: ?OnExit = null;
var once = std.once(init);
var ready: bool = false;

const posix = struct {
    const c = std.c;
    var key: c.pthread_key_t = undefined;

    fn destructor(value: ?*anyopaque) callconv(.c) void {
        const tag = tagOf(value) orelse return;
        if (handler) |h| h(tag);
    }

    fn init() bool {
        return c.pthread_key_create(&key, destructor) == .SUCCESS;
    }

    fn set(value: ?*anyopaque) bool {
        return c.pthread_setspecific(key, value) == 0;
    }
};

const windows = struct {
    const w = std.os.windows;
    const FLS_OUT_OF_INDEXES: w.DWORD = 0xffff_ffff;
    const Callback = *const fn (?*anyopaque) callconv(.winapi) void;
    extern "kernel32" fn FlsAlloc(callback: ?Callback) callconv(.winapi) w.DWORD;
    extern "kernel32" fn FlsSetValue(index: w.DWORD, value: ?*anyopaque) callconv(.winapi) w.BOOL;

    var index: w.DWORD = FLS_OUT_OF_INDEXES;

    fn callback(value: ?*anyopaque) callconv(.winapi) void {
        const tag = tagOf(value) orelse return;
        if (handler) |h| h(tag);
    }

    fn init() bool {
        index = FlsAlloc(callback);
        return index != FLS_OUT_OF_INDEXES;
    }

    fn set(value: ?*anyopaque) bool {
        return FlsSetValue(index, value) != 0;
    }
};

const backend = if (builtin.os.tag == .windows) windows else posix;

fn init() void {
    ready = backend.init();
}

/// Tags are stored as `tag + 1` so that 0 (no value: the destructor is not
/// called) never stands for a real tag.
fn tagOf(value: ?*anyopaque) ?u32 {
    const v = @intFromPtr(value);
    if (v == 0 or v > std.math.maxInt(u32)) return null;
    return @intCast(v - 1);
}

/// Install the process-wide exit handler, before any `watch`. The library
/// has one (core/cq.zig sets it); tests of this file install their own.
pub fn setHandler(h: OnExit) void {
    handler = h;
}

/// Tag the calling thread: when it exits, the handler runs with `tag`. A
/// thread carries one tag; a later `watch` replaces it. Returns false when
/// the OS refused (no key left): the caller then cannot learn of the exit.
pub fn watch(tag: u32) bool {
    std.debug.assert(tag < std.math.maxInt(u32));
    std.debug.assert(handler != null);
    once.call();
    if (!ready) return false;
    return backend.set(@ptrFromInt(@as(usize, tag) + 1));
}

/// Remove the calling thread's tag (its state was released another way).
pub fn unwatch() void {
    once.call();
    if (ready) _ = backend.set(null);
}

var seen = std.atomic.Value(u32).init(0);
var last_tag = std.atomic.Value(u32).init(0);

fn testHandler(tag: u32) void {
    last_tag.store(tag, .seq_cst);
    _ = seen.fetchAdd(1, .seq_cst);
}

test "thread_exit: the handler runs on exit with the thread's tag, once" {
    setHandler(testHandler);
    const before = seen.load(.seq_cst);
    const T = struct {
        fn run(tag: u32) void {
            std.debug.assert(watch(tag + 100));
            // Re-tagging replaces the tag: only the last one is reported.
            std.debug.assert(watch(tag));
        }
    };
    const th = try std.Thread.spawn(.{}, T.run, .{@as(u32, 41)});
    th.join();
    try std.testing.expectEqual(before + 1, seen.load(.seq_cst));
    try std.testing.expectEqual(@as(u32, 41), last_tag.load(.seq_cst));
}

test "thread_exit: an unwatched thread reports nothing" {
    setHandler(testHandler);
    const before = seen.load(.seq_cst);
    const T = struct {
        fn run() void {
            std.debug.assert(watch(7));
            unwatch();
        }
    };
    const th = try std.Thread.spawn(.{}, T.run, .{});
    th.join();
    try std.testing.expectEqual(before, seen.load(.seq_cst));
}
