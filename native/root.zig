//! libavx: the C ABI that `src/ffi/symbols.ts` binds. Each subsystem has
//! its own exports file; this root only pulls them in.
comptime {
    _ = @import("ffi/core.zig");
    _ = @import("ffi/bell.zig");
    _ = @import("ffi/sync.zig");
    _ = @import("ffi/atomic.zig");
    _ = @import("ffi/chan.zig");
    _ = @import("ffi/timer.zig");
    _ = @import("ffi/rt.zig");
    _ = @import("ffi/net.zig");
    _ = @import("ffi/serve.zig");
}
