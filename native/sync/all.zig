//! The tests of native/sync, for the test roots.
test {
    _ = @import("mutex.zig");
    _ = @import("rwlock.zig");
    _ = @import("semaphore.zig");
    _ = @import("condvar.zig");
}
