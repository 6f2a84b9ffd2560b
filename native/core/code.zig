//! Result codes returned across the FFI boundary.
//!
//! Every exported function returns an `i32`: 0 for success, a positive value
//! where the function says so (a length, a token), or a negative `Code`.
//! `src/errors.ts` mirrors this table; the numbers are part of the ABI.
const std = @import("std");

pub const Code = enum(i32) {
    ok = 0,
    invalid_handle = -1,
    wrong_kind = -2,
    closed = -3,
    timeout = -4,
    /// Not produced natively; reserved so JS and Zig share one table.
    aborted = -5,
    lagged = -6,
    /// Nothing to receive, no room to send, lock taken: try again later.
    would_block = -7,
    out_of_memory = -8,
    too_large = -9,
    invalid_argument = -10,
    not_locked = -11,
    limit = -12,
    buffer_too_small = -13,
    /// The other side went away without sending (oneshot).
    disconnected = -14,
    already_sent = -15,
    invalid_state = -16,
    /// A task threw (JS-side code; reserved here so the tables match).
    task_failed = -17,
    /// The worker isolate running a task died.
    worker_lost = -18,

    pub fn int(c: Code) i32 {
        return @intFromEnum(c);
    }
};

/// A second result for the calling thread: the size a buffer must have
/// (`buffer_too_small`), the number of messages missed (`lagged`), a
/// version. Read with `avx_last_value` right after the call that set it.
pub threadlocal var last_value: u64 = 0;

test "code: values are stable" {
    try std.testing.expectEqual(@as(i32, -1), Code.invalid_handle.int());
    try std.testing.expectEqual(@as(i32, -16), Code.invalid_state.int());
}

/// The code behind the last NaN returned by a function that returns a
/// value as an f64. Read with `avx_last_error`.
pub threadlocal var last_error: i32 = 0;

/// Every error a native function may return across the FFI boundary. A
/// function whose error set holds a name missing here does not compile
/// where its result is turned into a code (`abi.fail`, `abi.status`): add
/// the name here and give it a code in `fromError`.
pub const Error = error{
    InvalidHandle,
    WrongKind,
    Closed,
    Timeout,
    Lagged,
    WouldBlock,
    OutOfMemory,
    TooLarge,
    InvalidArgument,
    NotLocked,
    Limit,
    BufferTooSmall,
    Disconnected,
    AlreadySent,
    InvalidState,
};

/// Map the errors native functions return to codes: exhaustive, no `else`,
/// so a new error name without a code is a compile error.
pub fn fromError(err: Error) Code {
    return switch (err) {
        error.InvalidHandle => .invalid_handle,
        error.WrongKind => .wrong_kind,
        error.Closed => .closed,
        error.Timeout => .timeout,
        error.Lagged => .lagged,
        error.WouldBlock => .would_block,
        error.OutOfMemory => .out_of_memory,
        error.TooLarge => .too_large,
        error.InvalidArgument => .invalid_argument,
        error.NotLocked => .not_locked,
        error.Limit => .limit,
        error.BufferTooSmall => .buffer_too_small,
        error.Disconnected => .disconnected,
        error.AlreadySent => .already_sent,
        error.InvalidState => .invalid_state,
    };
}

test "code: every error maps to its own negative code" {
    const names = @typeInfo(Error).error_set.?;
    inline for (names) |e| {
        const c = fromError(@field(anyerror, e.name));
        try std.testing.expect(c.int() < 0);
        try std.testing.expect(c != .aborted and c != .task_failed and c != .worker_lost);
    }
}
