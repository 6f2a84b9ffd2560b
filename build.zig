//! Builds `libavx` (a shared library linking libc) and its tests.
//!
//!   zig build                      ReleaseSafe library into zig-out/
//!   zig build test                 every Zig unit and stress test
//!   zig build cross                the library for macOS and Windows too
//!   zig build sched-bench          zig-out/bin/avx-sched-bench (native scheduler benchmark)
//!   zig build echo-client          zig-out/bin/avx-echo-client (load client of bench/compare_echo.ts)
//!   zig build test-windows         zig-out/bin/avx-tests-windows.exe (scripts/test_windows.sh runs it)
//!   zig build test-macos           the portable tests compiled for x86_64/aarch64 macOS
const std = @import("std");
const builtin = @import("builtin");

/// The one Zig version pin of the project (also read by scripts/avx).
const pinned_zig = std.mem.trim(u8, @embedFile(".zig-version"), " \r\n");

comptime {
    if (!std.mem.eql(u8, builtin.zig_version_string, pinned_zig)) {
        @compileError("avx builds with Zig " ++ pinned_zig ++ ", this is " ++ builtin.zig_version_string);
    }
}

/// A cross target: its directory name under zig-out/cross and its query
/// (written out, not parsed from the name, so nothing here can fail).
const Triple = struct { name: []const u8, query: std.Target.Query };
const x86_64_macos: Triple = .{ .name = "x86_64-macos", .query = .{ .cpu_arch = .x86_64, .os_tag = .macos } };
const aarch64_macos: Triple = .{ .name = "aarch64-macos", .query = .{ .cpu_arch = .aarch64, .os_tag = .macos } };
const x86_64_windows: Triple = .{ .name = "x86_64-windows-gnu", .query = .{ .cpu_arch = .x86_64, .os_tag = .windows, .abi = .gnu } };

pub fn build(b: *std.Build) void {
    const target = b.standardTargetOptions(.{});
    // ReleaseSafe unless asked otherwise: assertions, bounds and overflow
    // checks ship (issue 10). Measured against ReleaseFast, alternating
    // rounds on a loaded 2-core machine (best of 6, ns per op, lock_bench):
    // lockSync+unlock 23.4 -> 24.9, tryLock+unlock 21.9 -> 22.4, await
    // lock+unlock 70.8 -> 74.7, RwLock read 21.8 -> 23.5, Semaphore 23.1 ->
    // 24.1, AtomicCounter.add 9.6 -> 10.4; medians moved more with the load
    // than with the mode, and the channel throughputs (compare_channels)
    // did not drop. No path opts out; one that must would say
    // @setRuntimeSafety(false) with its figure beside it.
    // `-Doptimize=ReleaseFast` builds the unchecked library.
    const optimize = b.option(std.builtin.OptimizeMode, "optimize", "Optimize mode (default ReleaseSafe)") orelse .ReleaseSafe;

    const lib = addLibrary(b, target, optimize);
    b.installArtifact(lib);

    const test_step = b.step("test", "Run the Zig unit and stress tests");
    const test_filter = b.option([]const u8, "test-filter", "Only run tests whose name contains this");
    const tests = b.addTest(.{
        .root_module = rootModule(b, "native/tests.zig", target, b.option(std.builtin.OptimizeMode, "test-optimize", "Optimize mode of the tests") orelse .ReleaseSafe),
        .filters = if (test_filter) |f| b.dupeStrings(&.{f}) else &.{},
    });
    test_step.dependOn(&b.addRunArtifact(tests).step);

    // Cross builds prove the library compiles and links for every OS we ship.
    const cross_step = b.step("cross", "Build the library for x86_64/aarch64 macOS and x86_64 Windows");
    for ([_]Triple{ x86_64_macos, aarch64_macos, x86_64_windows }) |triple| {
        const cross_lib = addLibrary(b, b.resolveTargetQuery(triple.query), optimize);
        const install = b.addInstallArtifact(cross_lib, .{ .dest_dir = .{ .override = .{ .custom = b.fmt("cross/{s}", .{triple.name}) } } });
        cross_step.dependOn(&install.step);
    }

    addAbiGen(b);
    addSchedBench(b, target);
    addEchoClient(b, target);
    addForeignTests(b, test_filter);
}

/// `zig build test-windows`: zig-out/bin/avx-tests-windows.exe, the tests
/// that run on Windows (the IOCP reactor, ws2_32 sockets), for
/// scripts/test_windows.sh to run under wine. `zig build test-macos`:
/// the same tests compiled (not run) for both macOS architectures, which
/// type-checks the kqueue backend and libSystem sockets.
fn addForeignTests(b: *std.Build, test_filter: ?[]const u8) void {
    const filters: []const []const u8 = if (test_filter) |f| b.dupeStrings(&.{f}) else &.{};
    const windows_step = b.step("test-windows", "Build zig-out/bin/avx-tests-windows.exe (run it with scripts/test_windows.sh)");
    const windows_module = rootModule(b, "native/tests_windows.zig", b.resolveTargetQuery(x86_64_windows.query), .ReleaseSafe);
    windows_module.linkSystemLibrary("ntdll", .{});
    windows_module.linkSystemLibrary("ws2_32", .{});
    const windows_tests = b.addTest(.{ .name = "avx-tests-windows", .root_module = windows_module, .filters = filters });
    windows_step.dependOn(&b.addInstallArtifact(windows_tests, .{}).step);

    const macos_step = b.step("test-macos", "Compile (not run) the portable tests for x86_64 and aarch64 macOS");
    for ([_]Triple{ x86_64_macos, aarch64_macos }) |triple| {
        const module = rootModule(b, "native/tests_windows.zig", b.resolveTargetQuery(triple.query), .ReleaseSafe);
        const tests = b.addTest(.{ .name = b.fmt("avx-tests-{s}", .{triple.name}), .root_module = module, .filters = filters });
        // Installing needs the emitted binary, so the compile really runs.
        const install = b.addInstallArtifact(tests, .{ .dest_dir = .{ .override = .{ .custom = b.fmt("cross/{s}", .{triple.name}) } } });
        macos_step.dependOn(&install.step);
    }
}

/// `zig build abi`: regenerate src/ffi/abi.gen.ts, the TypeScript mirror of
/// the exports and the shared constants (native/abi_gen.zig).
fn addAbiGen(b: *std.Build) void {
    const step = b.step("abi", "Regenerate src/ffi/abi.gen.ts from the Zig exports");
    const exe = b.addExecutable(.{ .name = "abi-gen", .root_module = rootModule(b, "native/abi_gen.zig", b.graph.host, .Debug) });
    const run = b.addRunArtifact(exe);
    run.addArg(b.pathFromRoot("native"));
    run.addArg(b.pathFromRoot("src/ffi/abi.gen.ts"));
    step.dependOn(&run.step);
}

/// `zig build sched-bench`: zig-out/bin/avx-sched-bench, the native
/// scheduler benchmark (always ReleaseFast). A module may not import files
/// above its root file's directory, and the scheduler imports ../os and
/// ../core; so the bench's "avx_sched" module roots at a generated file
/// placed beside a copy of native/.
fn addSchedBench(b: *std.Build, target: std.Build.ResolvedTarget) void {
    const step = b.step("sched-bench", "Build zig-out/bin/avx-sched-bench (native scheduler benchmark)");
    const files = b.addWriteFiles();
    _ = files.addCopyDirectory(b.path("native"), "native", .{ .include_extensions = &.{".zig"} });
    const api_root = files.add("avx_sched.zig", "pub const api = @import(\"native/sched/bench_api.zig\");\n");
    const api = b.createModule(.{ .root_source_file = api_root, .target = target, .optimize = .ReleaseFast, .link_libc = true });
    const module = rootModule(b, "bench/native/sched_bench.zig", target, .ReleaseFast);
    module.addImport("avx_sched", api);
    const exe = b.addExecutable(.{ .name = "avx-sched-bench", .root_module = module });
    step.dependOn(&b.addInstallArtifact(exe, .{}).step);
}

/// `zig build echo-client`: zig-out/bin/avx-echo-client, the TCP echo
/// load client of bench/compare_echo.ts (always ReleaseFast; std only, it
/// does not use avx, so every server it drives gets the same client).
fn addEchoClient(b: *std.Build, target: std.Build.ResolvedTarget) void {
    const step = b.step("echo-client", "Build zig-out/bin/avx-echo-client (TCP echo load client)");
    const module = rootModule(b, "bench/native/echo_client.zig", target, .ReleaseFast);
    const exe = b.addExecutable(.{ .name = "avx-echo-client", .root_module = module });
    step.dependOn(&b.addInstallArtifact(exe, .{}).step);
}

fn rootModule(b: *std.Build, path: []const u8, target: std.Build.ResolvedTarget, optimize: std.builtin.OptimizeMode) *std.Build.Module {
    return b.createModule(.{
        .root_source_file = b.path(path),
        .target = target,
        .optimize = optimize,
        // libc: threads we spawn must have pthread TLS, or callbacks into
        // Deno from them hang.
        .link_libc = true,
    });
}

fn addLibrary(b: *std.Build, target: std.Build.ResolvedTarget, optimize: std.builtin.OptimizeMode) *std.Build.Step.Compile {
    const module = rootModule(b, "native/root.zig", target, optimize);
    if (target.result.os.tag == .windows) module.linkSystemLibrary("ntdll", .{});
    return b.addLibrary(.{ .name = "avx", .linkage = .dynamic, .root_module = module });
}
