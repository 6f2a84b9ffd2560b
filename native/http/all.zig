//! native/http: a pure HTTP/1.1 server-side codec (no I/O, no allocation).
//! The parser reads requests from a connection's buffer; the response
//! writer fills a buffer with heads and chunk framing.
pub const parser = @import("parser.zig");
pub const response = @import("response.zig");

test {
    _ = parser;
    _ = response;
    _ = @import("parser_test.zig");
    _ = @import("response_test.zig");
}
