//! Exports of the runtime (native/rt/): task functions, runtimes, the
//! worker loop's calls, tasks. Conventions in abi.zig; the worker loop
//! that drives these is src/rt/worker.ts.
const std = @import("std");
const assert = std.debug.assert;
const abi = @import("abi.zig");
const Code = abi.Code;
const code = @import("../core/code.zig");
const handles = @import("../core/handles.zig");
const registry = @import("../rt/registry.zig");
const runtime = @import("../rt/runtime.zig");
const Runtime = runtime.Runtime;
const task_mod = @import("../rt/task.zig");
const Task = task_mod.Task;
const metrics = @import("../rt/metrics.zig");

// ------------------------------------------------------------ functions

/// The id (>= 1) of the task function `name` ("URL#export").
export fn avx_fn_register(ptr: ?[*]const u8, len: u32) i32 {
    const name = abi.bytes(ptr, len) catch |err| return abi.fail(err);
    const id = registry.register(name) catch |err| return abi.fail(err);
    return @intCast(id);
}

/// Copy the name of function `id` into `out`: its length, or
/// `buffer_too_small` with the length in `avx_last_value`.
export fn avx_fn_name(id: u32, out: ?[*]u8, cap: u32) i32 {
    const name = registry.name(id) catch |err| return abi.fail(err);
    const dst = abi.bytesMut(out, cap) catch |err| return abi.fail(err);
    if (name.len > dst.len) {
        code.last_value = name.len;
        return Code.buffer_too_small.int();
    }
    @memcpy(dst[0..name.len], name);
    return @intCast(name.len);
}

// -------------------------------------------------------------- runtime

/// Flags of `avx_rt_new`.
pub const flag_lifo: u32 = 1;
pub const flag_stealing: u32 = 2;

/// A runtime with `workers` slots; its handle, or NaN.
export fn avx_rt_new(workers: u32, budget: u32, interval: u32, flags: u32, seed: f64) f64 {
    if (!(seed >= 0 and seed <= 9007199254740991.0)) return abi.failF64(error.InvalidArgument);
    const rt = Runtime.create(.{
        .workers = workers,
        .task_budget = budget,
        .global_queue_interval = interval,
        .lifo_slot = flags & flag_lifo != 0,
        .work_stealing = flags & flag_stealing != 0,
        .seed = @intFromFloat(seed),
    }) catch |err| return abi.failF64(err);
    const h = abi.register(.runtime, rt, destroyRuntime);
    if (std.math.isNan(h)) rt.destroy();
    return h;
}

fn destroyRuntime(obj: *anyopaque) void {
    const rt: *Runtime = @ptrCast(@alignCast(obj));
    rt.destroy();
}

fn rtOf(h: f64) !*Runtime {
    return abi.object(Runtime, h, .runtime);
}

/// Spawn a call of function `fn_id` with encoded arguments; the task's
/// handle (owned by the caller), or NaN.
export fn avx_rt_spawn(h: f64, fn_id: u32, args: ?[*]const u8, len: u32) f64 {
    const rt = rtOf(h) catch |err| return abi.failF64(err);
    const bytes = abi.bytes(args, len) catch |err| return abi.failF64(err);
    const t = rt.spawn(fn_id, bytes) catch |err| return abi.failF64(err);
    return handles.toF64(t);
}

/// Bind the calling isolate's thread to slot `w`; its epoch (> 0).
export fn avx_rt_attach(h: f64, w: u32, q: f64) i32 {
    const rt = rtOf(h) catch |err| return abi.fail(err);
    _ = abi.queue(q) catch |err| return abi.fail(err);
    const epoch = rt.attach(w, q) catch |err| return abi.fail(err);
    return @intCast(epoch & 0x7fff_ffff);
}

export fn avx_rt_detach(h: f64, w: u32, epoch: u32) i32 {
    const rt = rtOf(h) catch |err| return abi.fail(err);
    return abi.status(rt.detach(w, epoch));
}

/// Results of `avx_rt_next`.
pub const next_idle: i32 = 0;
pub const next_task: i32 = 1;
pub const next_yield: i32 = 2;
pub const next_shutdown: i32 = 3;
/// The f64s `avx_rt_next` writes to `info`.
const next_info_len = 3;

/// The worker loop's step. On `1` (a task, now running on `w`), `info`
/// (3 f64s) holds [task handle, function id, argument length] and the arguments are
/// in `args` if they fit (else read them with `avx_task_args`). `0`: park;
/// `2`: the budget is spent, run the event loop; `3`: leave.
export fn avx_rt_next(h: f64, w: u32, epoch: u32, info: ?[*]f64, args: ?[*]u8, cap: u32) i32 {
    const rt = rtOf(h) catch |err| return abi.fail(err);
    const out = abi.array(f64, next_info_len, info) catch |err| return abi.fail(err);
    const buf = abi.bytesMut(args, cap) catch |err| return abi.fail(err);
    const step = rt.next(w, epoch) catch |err| return abi.fail(err);
    switch (step) {
        .idle => return next_idle,
        .yield => return next_yield,
        .shutdown => return next_shutdown,
        .task => |t| {
            out[0] = handles.toF64(t.handle);
            out[1] = @floatFromInt(t.fn_id);
            out[2] = @floatFromInt(t.args.len);
            if (t.args.len <= buf.len) @memcpy(buf[0..t.args.len], t.args.slice());
            return next_task;
        },
    }
}

/// Park slot `w`'s thread until there may be work, for at most
/// `timeout_ms` (bounded slices keep a lost isolate's cleanup short).
export fn avx_rt_park(h: f64, w: u32, epoch: u32, timeout_ms: f64) i32 {
    const rt = rtOf(h) catch |err| return abi.fail(err);
    if (!(timeout_ms >= 0 and timeout_ms <= 60_000)) return Code.invalid_argument.int();
    const ns: u64 = @intFromFloat(timeout_ms * std.time.ns_per_ms);
    return abi.status(rt.park(w, epoch, ns));
}

/// Park through queue `q`: 0 when there is work already (ask `next`
/// again), else a token granted when there may be.
export fn avx_rt_park_async(h: f64, w: u32, epoch: u32, q: f64) i32 {
    const rt = rtOf(h) catch |err| return abi.fail(err);
    const cq = abi.queue(q) catch |err| return abi.fail(err);
    const waiter = cq.acquire() orelse return Code.limit.int();
    const token = waiter.token;
    const linked = rt.parkAsync(w, epoch, waiter) catch |err| {
        cq.release(waiter);
        return abi.fail(err);
    };
    if (!linked) {
        cq.release(waiter);
        return 0;
    }
    return @intCast(token);
}

/// Slot `w`'s isolate died (`close_queue` 1: close its completion queue
/// too) or is stuck and given up (0: it keeps its queue): see
/// Runtime.lose.
export fn avx_rt_lose(h: f64, w: u32, close_queue: u32) i32 {
    const rt = rtOf(h) catch |err| return abi.fail(err);
    return abi.status(rt.lose(w, close_queue != 0));
}

/// Slot `w`'s isolate leaves on its own: see Runtime.leave.
export fn avx_rt_leave(h: f64, w: u32, epoch: u32) i32 {
    const rt = rtOf(h) catch |err| return abi.fail(err);
    return abi.status(rt.leave(w, epoch));
}

/// Shutdown, first phase: refuse spawns from outside the runtime.
export fn avx_rt_close(h: f64) i32 {
    const rt = rtOf(h) catch |err| return abi.fail(err);
    rt.close();
    return 0;
}

/// After close: 0 when every task has ended, else a token granted then.
export fn avx_rt_idle_async(h: f64, q: f64) i32 {
    const rt = rtOf(h) catch |err| return abi.fail(err);
    const cq = abi.queue(q) catch |err| return abi.fail(err);
    const waiter = cq.acquire() orelse return Code.limit.int();
    return @intCast(rt.idleAsync(waiter));
}

/// Shutdown, second phase: refuse every spawn, wake every worker, abort
/// running tasks.
export fn avx_rt_stop(h: f64) i32 {
    const rt = rtOf(h) catch |err| return abi.fail(err);
    rt.stop();
    return 0;
}

/// Shutdown, last phase (workers gone): cancel what is left.
export fn avx_rt_finish(h: f64) i32 {
    const rt = rtOf(h) catch |err| return abi.fail(err);
    if (!rt.stopped.load(.acquire)) return Code.invalid_state.int();
    rt.finish();
    return 0;
}

/// Tasks spawned and not ended.
export fn avx_rt_unfinished(h: f64) i32 {
    const rt = rtOf(h) catch |err| return abi.fail(err);
    return @intCast(rt.unfinished());
}

/// Fill `out` with the runtime's metrics (layout in rt/metrics.zig); the
/// number of values written.
export fn avx_rt_metrics(h: f64, out: ?[*]f64, cap: u32) i32 {
    const rt = rtOf(h) catch |err| return abi.fail(err);
    const dst = out orelse return Code.invalid_argument.int();
    const n = metrics.write(rt, dst[0..cap]);
    assert(n <= cap);
    return @intCast(n);
}

// ---------------------------------------------------------------- tasks

fn taskOf(h: f64) !*Task {
    return abi.object(Task, h, .task);
}

/// 0 when the task has ended, else a token granted when it does.
export fn avx_task_join_async(h: f64, q: f64) i32 {
    const t = taskOf(h) catch |err| return abi.fail(err);
    const cq = abi.queue(q) catch |err| return abi.fail(err);
    const waiter = cq.acquire() orelse return Code.limit.int();
    return @intCast(t.joinAsync(waiter));
}

/// The task's `Outcome` (0 while it has not ended).
export fn avx_task_state(h: f64) i32 {
    const t = taskOf(h) catch |err| return abi.fail(err);
    t.joiners.lock.lock();
    defer t.joiners.lock.unlock();
    return @intFromEnum(t.outcome);
}

/// Copy an ended task's result (its encoded value or error) into `out`:
/// the length, `invalid_state` before it ended, or `buffer_too_small`.
export fn avx_task_result(h: f64, out: ?[*]u8, cap: u32) i32 {
    const t = taskOf(h) catch |err| return abi.fail(err);
    const dst = abi.bytesMut(out, cap) catch |err| return abi.fail(err);
    t.joiners.lock.lock();
    defer t.joiners.lock.unlock();
    if (t.state != .done) return Code.invalid_state.int();
    const n = t.result.copyTo(dst) catch |err| return abi.fail(err);
    return @intCast(n);
}

/// Collect an ended task in one call: copy its result (encoded value or
/// error) into `out`, put the result's length in `avx_last_value`, give
/// back the caller's reference and return the `Outcome` (>= 1). When the
/// result does not fit: `buffer_too_small` with the length in
/// `avx_last_value`, and the reference is kept. `invalid_state` before the
/// task ended.
export fn avx_task_finish(h: f64, out: ?[*]u8, cap: u32) i32 {
    const handle = handles.fromF64(h) orelse return Code.invalid_handle.int();
    const t = handles.get(Task, handle, .task) catch |err| return abi.fail(err);
    const dst = abi.bytesMut(out, cap) catch |err| return abi.fail(err);
    t.joiners.lock.lock();
    if (t.state != .done) {
        t.joiners.lock.unlock();
        return Code.invalid_state.int();
    }
    const outcome = t.outcome;
    const n = t.result.copyTo(dst) catch |err| {
        t.joiners.lock.unlock();
        return abi.fail(err);
    };
    t.joiners.lock.unlock();
    code.last_value = n;
    handles.release(handle) catch |err| return abi.fail(err);
    return @intFromEnum(outcome);
}

/// Copy a task's encoded arguments into `out` (for arguments that did not
/// fit `avx_rt_next`'s buffer).
export fn avx_task_args(h: f64, out: ?[*]u8, cap: u32) i32 {
    const t = taskOf(h) catch |err| return abi.fail(err);
    const dst = abi.bytesMut(out, cap) catch |err| return abi.fail(err);
    const n = t.args.copyTo(dst) catch |err| return abi.fail(err);
    return @intCast(n);
}

/// Abort a task: 1 if this ended it, 0 if it had already ended.
export fn avx_task_abort(h: f64) i32 {
    // A reference for the duration: the caller's may be gone (a settled
    // handle), and the record must not be recycled under us.
    const handle = handles.fromF64(h) orelse return Code.invalid_handle.int();
    const t = handles.pin(Task, handle, .task) catch |err| return abi.fail(err);
    defer handles.releaseHeld(handle);
    return if (Runtime.abort(t)) 1 else 0;
}

/// For the running worker: 0 when an abort was already requested, else a
/// token granted when one is.
export fn avx_task_watch_abort_async(h: f64, q: f64) i32 {
    const t = taskOf(h) catch |err| return abi.fail(err);
    const cq = abi.queue(q) catch |err| return abi.fail(err);
    const waiter = cq.acquire() orelse return Code.limit.int();
    return @intCast(t.watchAbortAsync(waiter));
}

/// Outcomes a worker may report.
pub const complete_ok: i32 = 1;
pub const complete_thrown: i32 = 2;

/// The worker finished a task: `outcome` 1 (returned) or 2 (threw), with
/// the encoded value or error.
export fn avx_task_complete(h: f64, outcome: i32, ptr: ?[*]const u8, len: u32) i32 {
    // A reference for the duration, as in avx_task_abort: a stale worker's
    // late call must not act on a recycled record.
    const handle = handles.fromF64(h) orelse return Code.invalid_handle.int();
    const t = handles.pin(Task, handle, .task) catch |err| return abi.fail(err);
    defer handles.releaseHeld(handle);
    const bytes = abi.bytes(ptr, len) catch |err| return abi.fail(err);
    const o: task_mod.Outcome = switch (outcome) {
        complete_ok => .ok,
        complete_thrown => .thrown,
        else => return Code.invalid_argument.int(),
    };
    const rt: *Runtime = @ptrCast(@alignCast(t.runtime orelse return Code.invalid_state.int()));
    return abi.status(rt.complete(t, o, bytes));
}
