//! Every file of the timer wheel, for the test root.
test {
    _ = @import("wheel.zig");
    _ = @import("driver.zig");
}
