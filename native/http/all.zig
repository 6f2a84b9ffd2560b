//! The tests of native/http (a pure HTTP/1.1 server-side codec: no I/O,
//! no allocation; parser.zig reads requests, response.zig writes heads and
//! chunk framing), for the test roots.
test {
    _ = @import("parser.zig");
    _ = @import("response.zig");
    _ = @import("parser_test.zig");
    _ = @import("response_test.zig");
}
