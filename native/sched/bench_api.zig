//! What the native scheduler benchmark (bench/native/sched_bench.zig) may
//! use. build.zig roots a module at a copy of native/ that re-exports this
//! file, so the scheduler's relative imports (../os, ../core) resolve.
pub const scheduler = @import("scheduler.zig");
pub const Scheduler = scheduler.Scheduler;
pub const Config = scheduler.Config;
pub const Task = scheduler.Task;
pub const Metrics = scheduler.Metrics;
pub const Runner = @import("runner.zig").Runner;
pub const futex = @import("../os/futex.zig");
pub const clock = @import("../os/clock.zig");
