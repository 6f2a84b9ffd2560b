//! Task functions by number. A task names its function ("module URL#export
//! name") by a small id, registered once per process, so spawning copies
//! four bytes instead of a URL and every isolate resolves an id to its
//! name once. Ids are never reused; the table is bounded.
const std = @import("std");
const RawMutex = @import("../core/raw_mutex.zig").RawMutex;

/// The most distinct task functions a process may register.
pub const capacity: u32 = 4096;
/// The longest name ("URL#export") accepted.
pub const max_name_len: u32 = 4096;

var lock: RawMutex = .{};
var names: [capacity][]const u8 = undefined;
/// Written under `lock`, read without it: ids are never removed.
var count: std.atomic.Value(u32) = .init(0);
var index: std.StringHashMapUnmanaged(u32) = .empty;

/// The id (>= 1) of `name`, registering it on first use.
pub fn register(fn_name: []const u8) error{ InvalidArgument, Limit, OutOfMemory }!u32 {
    if (fn_name.len == 0 or fn_name.len > max_name_len) return error.InvalidArgument;
    lock.lock();
    defer lock.unlock();
    if (index.get(fn_name)) |id| return id;
    const n = count.load(.monotonic);
    if (n == capacity) return error.Limit;
    const a = std.heap.c_allocator;
    const owned = try a.dupe(u8, fn_name);
    errdefer a.free(owned);
    try index.put(a, owned, n + 1);
    names[n] = owned;
    // Publishes the name to `isRegistered` readers.
    count.store(n + 1, .release);
    return n + 1;
}

/// The name of a registered id.
pub fn name(id: u32) error{InvalidArgument}![]const u8 {
    lock.lock();
    defer lock.unlock();
    if (id == 0 or id > count.load(.monotonic)) return error.InvalidArgument;
    return names[id - 1];
}

/// Whether `id` names a registered function (lock-free: spawn checks it).
pub fn isRegistered(id: u32) bool {
    return id >= 1 and id <= count.load(.acquire);
}

test "registry: same name, same id" {
    const a = try register("file:///t.ts#one");
    const b = try register("file:///t.ts#two");
    try std.testing.expect(a != b);
    try std.testing.expectEqual(a, try register("file:///t.ts#one"));
    try std.testing.expectEqualStrings("file:///t.ts#two", try name(b));
    try std.testing.expectError(error.InvalidArgument, name(0));
    try std.testing.expectError(error.InvalidArgument, register(""));
}
