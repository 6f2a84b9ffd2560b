//! The tests of native/rt, for the test roots.
test {
    _ = @import("bytes.zig");
    _ = @import("registry.zig");
    _ = @import("task.zig");
    _ = @import("runtime_test.zig");
}
