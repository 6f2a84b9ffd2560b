//! The Zig tests that are not Linux-only, from one root: built for
//! Windows by `zig build test-windows` (scripts/test_windows.sh runs them
//! under wine) and compiled for both macOS architectures by
//! `zig build test-macos`. Every file here passes under wine; the list is
//! native/tests.zig's but for root.zig (the FFI exports, net/ and http/,
//! still being written: add it once they settle).
test {
    _ = @import("os/socket.zig");
    _ = @import("reactor/reactor.zig");
    _ = @import("os/futex.zig");
    _ = @import("os/clock.zig");
    _ = @import("core/code.zig");
    _ = @import("core/handles.zig");
    _ = @import("core/wait_queue.zig");
    _ = @import("core/cq.zig");
    _ = @import("core/bell.zig");
    _ = @import("os/thread_exit.zig");
    _ = @import("core/rng.zig");
    _ = @import("core/raw_mutex.zig");
    _ = @import("sync/all.zig");
    _ = @import("atomic/all.zig");
    _ = @import("chan/all.zig");
    _ = @import("sched/all.zig");
    _ = @import("timer/all.zig");
    _ = @import("rt/all.zig");
}
