//! Every Zig test of the project, reached from one root.
test {
    _ = @import("os/futex.zig");
    _ = @import("os/clock.zig");
    _ = @import("os/socket.zig");
    _ = @import("reactor/reactor.zig");
    _ = @import("net/all.zig");
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
    _ = @import("http/all.zig");
    _ = @import("root.zig");
}
