//! The global injection queue: tasks scheduled from outside any worker,
//! and the overflow of full local rings.
//!
//! An intrusive FIFO through `Task.next` under a RawMutex, so pushing
//! never allocates. It is unbounded as a data structure but holds only
//! queued tasks, and the owner of the tasks bounds how many are alive.
//! `len` is also kept in an atomic so workers can skip the lock when it is
//! empty, which is the common case on their hot path.
const std = @import("std");
const task_mod = @import("task.zig");
const Task = task_mod.Task;
const List = task_mod.List;
const RawMutex = @import("../core/raw_mutex.zig").RawMutex;

pub const Inject = struct {
    lock: RawMutex = .{},
    /// Guarded by `lock`.
    list: List = .{},
    /// Guarded by `lock`: once set, `push` refuses new tasks.
    closed: bool = false,
    /// Mirrors `list.len`; written under `lock`, read anywhere. Readers
    /// that must not miss a push order themselves through the idle state
    /// (see scheduler.zig), not through this word.
    len: std.atomic.Value(u32) = .init(0),
    /// Tasks accepted by `push` (not batches) since creation, for metrics.
    pushed: std.atomic.Value(u64) = .init(0),

    /// Queue a task from outside the scheduler. Fails once closed.
    pub fn push(q: *Inject, task: *Task) error{Closed}!void {
        q.lock.lock();
        defer q.lock.unlock();
        if (q.closed) return error.Closed;
        q.list.pushBack(task);
        q.len.store(q.list.len, .release);
        q.pushed.store(q.pushed.load(.monotonic) + 1, .monotonic);
    }

    /// Queue a batch moved out of a worker (ring overflow, evacuation).
    /// Accepted even when closed: the tasks were already scheduled, and
    /// `drain` finds them here.
    pub fn pushList(q: *Inject, list: *List) void {
        if (list.isEmpty()) return;
        q.lock.lock();
        defer q.lock.unlock();
        q.list.appendList(list);
        q.len.store(q.list.len, .release);
    }

    pub fn pop(q: *Inject) ?*Task {
        if (q.isEmpty()) return null;
        q.lock.lock();
        defer q.lock.unlock();
        const task = q.list.popFront() orelse return null;
        q.len.store(q.list.len, .release);
        return task;
    }

    /// Take up to `max` tasks (FIFO) in one lock acquisition.
    pub fn popList(q: *Inject, max: u32) List {
        std.debug.assert(max > 0);
        if (q.isEmpty()) return .{};
        q.lock.lock();
        defer q.lock.unlock();
        const taken = q.list.splitFront(@min(max, q.list.len));
        q.len.store(q.list.len, .release);
        return taken;
    }

    pub fn close(q: *Inject) void {
        q.lock.lock();
        defer q.lock.unlock();
        q.closed = true;
    }

    pub fn isEmpty(q: *const Inject) bool {
        return q.len.load(.acquire) == 0;
    }

    pub fn length(q: *const Inject) u32 {
        return q.len.load(.acquire);
    }
};

test "inject: FIFO, batches, close" {
    var q: Inject = .{};
    var tasks: [5]Task = @splat(.{});
    try std.testing.expect(q.pop() == null);
    try q.push(&tasks[0]);
    try q.push(&tasks[1]);
    var batch: List = .{};
    for (tasks[2..]) |*t| batch.pushBack(t);
    q.pushList(&batch);
    try std.testing.expectEqual(@as(u32, 5), q.length());
    try std.testing.expectEqual(&tasks[0], q.pop().?);
    var got = q.popList(2);
    try std.testing.expectEqual(@as(u32, 2), got.len);
    try std.testing.expectEqual(&tasks[1], got.popFront().?);
    try std.testing.expectEqual(&tasks[2], got.popFront().?);
    q.close();
    try std.testing.expectError(error.Closed, q.push(&tasks[0]));
    const rest = q.popList(10);
    try std.testing.expectEqual(@as(u32, 2), rest.len);
    try std.testing.expect(q.isEmpty());
    try std.testing.expectEqual(@as(u64, 2), q.pushed.load(.monotonic));
}
