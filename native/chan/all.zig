//! Tests of native/chan.
test {
    _ = @import("message.zig");
    _ = @import("port.zig");
    _ = @import("mpsc.zig");
}
