//! The unit of work the scheduler moves between queues, and the intrusive
//! FIFO list the injection queue and batch moves are made of.
//!
//! The scheduler never allocates or frees a task: its owner (the JS-task
//! runtime, a native runner's user, a test) embeds a `Task` in its own
//! record and keeps it alive while it is queued. A task is in at most one
//! place at a time (one ring slot, one LIFO slot, or the injection list);
//! scheduling a task that is already queued is a caller bug.
const std = @import("std");

pub const Task = struct {
    /// What a native runner calls to run the task; null for tasks run by a
    /// JS isolate (the isolate's loop runs them).
    run: ?*const fn (*Task) void = null,
    /// Link used by the injection queue only (the scheduler owns it while
    /// the task is queued).
    next: ?*Task = null,
};

/// A FIFO of tasks linked through `Task.next`. Plain data: whoever holds
/// it owns every task in it (the injection queue keeps one under its lock;
/// batch moves build one privately and hand it over whole).
pub const List = struct {
    head: ?*Task = null,
    tail: ?*Task = null,
    len: u32 = 0,

    pub fn isEmpty(l: *const List) bool {
        std.debug.assert((l.head == null) == (l.len == 0));
        return l.head == null;
    }

    pub fn pushBack(l: *List, task: *Task) void {
        std.debug.assert(task != l.tail);
        std.debug.assert(l.len < std.math.maxInt(u32));
        task.next = null;
        if (l.tail) |t| t.next = task else l.head = task;
        l.tail = task;
        l.len += 1;
    }

    pub fn popFront(l: *List) ?*Task {
        const task = l.head orelse return null;
        std.debug.assert(l.len > 0);
        l.head = task.next;
        if (l.head == null) l.tail = null;
        l.len -= 1;
        task.next = null;
        return task;
    }

    /// Move every task of `other` to the back of `l`, in order (O(1)).
    pub fn appendList(l: *List, other: *List) void {
        const head = other.head orelse return;
        std.debug.assert(other.len > 0);
        std.debug.assert(@as(u64, l.len) + other.len <= std.math.maxInt(u32));
        if (l.tail) |t| t.next = head else l.head = head;
        l.tail = other.tail;
        l.len += other.len;
        other.* = .{};
    }

    /// Detach the first `n` tasks (n <= len) as a list of their own. Walks
    /// `n` links: callers keep `n` small (at most half a ring).
    pub fn splitFront(l: *List, n: u32) List {
        std.debug.assert(n <= l.len);
        if (n == 0) return .{};
        if (n == l.len) {
            const all = l.*;
            l.* = .{};
            return all;
        }
        const head = l.head.?;
        var last = head;
        var i: u32 = 1;
        while (i < n) : (i += 1) last = last.next.?;
        l.head = last.next;
        l.len -= n;
        last.next = null;
        return .{ .head = head, .tail = last, .len = n };
    }
};

test "task: list push, pop, append and split keep FIFO order" {
    var tasks: [6]Task = @splat(.{});
    var l: List = .{};
    try std.testing.expect(l.isEmpty());
    for (tasks[0..3]) |*t| l.pushBack(t);
    var other: List = .{};
    for (tasks[3..6]) |*t| other.pushBack(t);
    l.appendList(&other);
    try std.testing.expect(other.isEmpty());
    try std.testing.expectEqual(@as(u32, 6), l.len);
    var front = l.splitFront(2);
    try std.testing.expectEqual(@as(u32, 2), front.len);
    try std.testing.expectEqual(&tasks[0], front.popFront().?);
    try std.testing.expectEqual(&tasks[1], front.popFront().?);
    try std.testing.expect(front.popFront() == null);
    var all = l.splitFront(4);
    try std.testing.expect(l.isEmpty());
    for (tasks[2..6]) |*t| try std.testing.expectEqual(t, all.popFront().?);
    try std.testing.expect(all.isEmpty());
}
