//! The tests that are not Linux-only: built for Windows by
//! `zig build test-windows` (run under wine by scripts/test_windows.sh)
//! and compiled for macOS by `zig build test-macos`. Each file here
//! passes on Windows; the rest of native/tests.zig is Linux-tested only.
test {
    _ = @import("os/socket.zig");
}
