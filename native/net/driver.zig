//! The shared I/O driver: one reactor loop for the sockets of every
//! isolate, owned by one thread.
//!
//! Isolates never touch the loop. A socket operation first tries its
//! syscall on the caller's thread (`sock.zig`); only when it would block
//! does the caller push a command here and wake the thread, which
//! registers the socket (lazily: a socket that never waits costs no
//! epoll_ctl), submits the op and, when the op completes, grants the
//! isolate's waiter through its completion queue.
//!
//! Commands travel through a lock-free stack (many pushers, one taker).
//! Each command node is embedded in its socket and is queued at most once
//! at a time, which the socket's in-flight flags guarantee; so the intake
//! is bounded by three nodes per live socket and never allocates.
const std = @import("std");
const assert = std.debug.assert;
const reactor = @import("../reactor/reactor.zig");
const Loop = reactor.Loop;

pub const Command = struct {
    next: ?*Command = null,
    /// Runs on the driver thread.
    run: *const fn (cmd: *Command, loop: *Loop) void,
};

pub const Driver = struct {
    loop: Loop,
    intake: std.atomic.Value(?*Command) = .init(null),
    stopping: std.atomic.Value(bool) = .init(false),
    thread: ?std.Thread = null,
    /// Commands run since start (metrics).
    commands: std.atomic.Value(u64) = .init(0),

    pub fn init(d: *Driver) reactor.socket.Error!void {
        d.* = .{ .loop = undefined };
        try d.loop.init();
    }

    pub fn start(d: *Driver) std.Thread.SpawnError!void {
        assert(d.thread == null);
        d.thread = try std.Thread.spawn(.{ .stack_size = 256 * 1024 }, run, .{d});
        d.thread.?.setName("avx-io") catch {};
    }

    /// Stop and join the thread (private drivers in tests; the process
    /// driver runs until exit).
    pub fn stop(d: *Driver) void {
        d.stopping.store(true, .release);
        d.loop.wake();
        if (d.thread) |t| t.join();
        d.thread = null;
        d.takeCommands();
    }

    /// Queue `cmd` for the driver thread (any thread).
    pub fn push(d: *Driver, cmd: *Command) void {
        var head = d.intake.load(.monotonic);
        while (true) {
            cmd.next = head;
            head = d.intake.cmpxchgWeak(head, cmd, .release, .monotonic) orelse break;
        }
        // Only the push that found the stack empty wakes: later ones are
        // taken by the same round.
        if (head == null) d.loop.wake();
    }

    fn run(d: *Driver) void {
        while (!d.stopping.load(.acquire)) {
            d.takeCommands();
            _ = d.loop.poll(null);
        }
    }

    /// Run queued commands, oldest first.
    fn takeCommands(d: *Driver) void {
        var node = d.intake.swap(null, .acquire);
        var fifo: ?*Command = null;
        while (node) |n| {
            node = n.next;
            n.next = fifo;
            fifo = n;
        }
        var count: u64 = 0;
        while (fifo) |n| : (count += 1) {
            fifo = n.next;
            n.next = null;
            n.run(n, &d.loop);
        }
        _ = d.commands.fetchAdd(count, .monotonic);
    }
};

var process_driver: Driver = undefined;
var started = std.atomic.Value(u8).init(0);
var start_lock: @import("../core/raw_mutex.zig").RawMutex = .{};

/// The process's driver, started on first use.
pub fn running() error{ Limit, OutOfMemory }!*Driver {
    if (started.load(.acquire) == 2) return &process_driver;
    start_lock.lock();
    defer start_lock.unlock();
    if (started.load(.acquire) == 2) return &process_driver;
    reactor.socket.init() catch return error.Limit;
    process_driver.init() catch return error.Limit;
    process_driver.start() catch {
        process_driver.loop.deinit();
        return error.OutOfMemory;
    };
    started.store(2, .release);
    return &process_driver;
}

test "driver: commands run on the driver thread, in order" {
    var d: Driver = undefined;
    try d.init();
    try d.start();
    const T = struct {
        cmd: Command = .{ .run = runIt },
        seq: *std.atomic.Value(u32),
        seen: u32 = 0,
        thread: std.Thread.Id = 0,
        fn runIt(cmd: *Command, _: *Loop) void {
            const t: *@This() = @fieldParentPtr("cmd", cmd);
            t.seen = t.seq.fetchAdd(1, .acq_rel) + 1;
            t.thread = std.Thread.getCurrentId();
        }
    };
    var seq = std.atomic.Value(u32).init(0);
    var items: [50]T = undefined;
    for (&items) |*it| {
        it.* = .{ .seq = &seq };
        d.push(&it.cmd);
    }
    var spins: u32 = 0;
    while (seq.load(.acquire) < items.len) : (spins += 1) {
        try std.testing.expect(spins < 5000);
        std.Thread.sleep(std.time.ns_per_ms);
    }
    d.stop();
    d.loop.deinit();
    // Commands pushed one by one while the thread runs may be taken in
    // several rounds, but each round keeps push order.
    for (items[1..], items[0 .. items.len - 1]) |b, a| try std.testing.expect(b.seen > a.seen);
    try std.testing.expect(items[0].thread != std.Thread.getCurrentId());
}

/// The process's driver if it was started.
pub fn runningOrNull() ?*Driver {
    return if (started.load(.acquire) == 2) &process_driver else null;
}
