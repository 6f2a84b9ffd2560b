//! Tests of the shared I/O driver and the sockets.
test {
    _ = @import("driver.zig");
    _ = @import("sock.zig");
    _ = @import("sock_test.zig");
}
