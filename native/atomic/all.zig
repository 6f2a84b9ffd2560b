//! Tests of native/atomic.
test {
    _ = @import("counter.zig");
    _ = @import("flag.zig");
    _ = @import("box.zig");
}
