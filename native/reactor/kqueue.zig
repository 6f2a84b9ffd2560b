//! Placeholder until the backend lands.
comptime {
    @compileError("avx: the kqueue backend is not written yet");
}
pub const OpState = struct {};
pub const RegistrationState = struct {};
pub const Loop = struct {};
