//! Tests of native/chan.
test {
    _ = @import("counting_allocator.zig");
    _ = @import("message.zig");
    _ = @import("port.zig");
    _ = @import("mpsc.zig");
    _ = @import("mpsc_test.zig");
    _ = @import("broadcast.zig");
    _ = @import("oneshot.zig");
}
