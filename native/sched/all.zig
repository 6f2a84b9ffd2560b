//! Every file of the scheduler, for the test root.
test {
    _ = @import("task.zig");
    _ = @import("ring.zig");
    _ = @import("inject.zig");
    _ = @import("idle.zig");
    _ = @import("parker.zig");
    _ = @import("metrics.zig");
    _ = @import("scheduler.zig");
    _ = @import("scheduler_test.zig");
    _ = @import("runner.zig");
    _ = @import("bench_api.zig");
}
