//! Tests of native/http/parser.zig.
//!
//! Every parse runs on a private, exactly sized copy of the bytes, so a
//! read past the end trips a bounds check (tests build ReleaseSafe) and the
//! in-place chunked decoding never touches the expected bytes. The random
//! tests print their seed; AVX_HTTP_SEED=<seed> replays it.
const std = @import("std");
const testing = std.testing;
const parser = @import("parser.zig");
const Limits = parser.Limits;
const Request = parser.Request;
const Result = parser.Result;
const Status = parser.Status;
const Rng = @import("../core/rng.zig").Rng;

const small: Limits = .{ .max_head = 200, .max_headers = 4, .max_target = 30, .max_body = 100, .max_framing = 40 };

fn parseInto(scratch: []u8, bytes: []const u8, limits: Limits, out: *Request) Result {
    const work = scratch[0..bytes.len];
    @memcpy(work, bytes);
    const result = parser.parse(work, limits, out);
    checkInside(work, out, result) catch @panic("a slice of a complete request lies outside its buffer");
    return result;
}

fn inside(buf: []const u8, slice: []const u8) bool {
    const lo = @intFromPtr(buf.ptr);
    const at = @intFromPtr(slice.ptr);
    return at >= lo and at + slice.len <= lo + buf.len;
}

/// A complete request's slices all lie in the bytes it consumed.
fn checkInside(buf: []const u8, r: *const Request, result: Result) !void {
    if (result != .complete) return;
    const consumed = result.complete.consumed;
    try testing.expect(consumed > 0 and consumed <= buf.len);
    try testing.expect(r.head_len > 0 and r.head_len <= consumed);
    const used = buf[0..consumed];
    const head = buf[0..r.head_len];
    try testing.expect(r.method.len > 0 and inside(head, r.method));
    try testing.expect(r.target.len > 0 and inside(head, r.target));
    try testing.expect(r.header_count <= parser.header_capacity);
    for (r.headerList()) |h| {
        try testing.expect(h.name.len > 0 and inside(head, h.name));
        try testing.expect(inside(head, h.value));
    }
    try testing.expect(inside(used, r.body));
    try testing.expectEqual(@intFromPtr(buf.ptr) + r.head_len, @intFromPtr(r.body.ptr));
    if (!r.chunked) try testing.expectEqual(r.head_len + r.body.len, consumed);
}

fn offsetOf(buf: []const u8, slice: []const u8) usize {
    return @intFromPtr(slice.ptr) - @intFromPtr(buf.ptr);
}

/// Two parses of (copies of) the same bytes agree, slices by offset.
fn expectSame(a_buf: []const u8, a: *const Request, a_result: Result, b_buf: []const u8, b: *const Request, b_result: Result) !void {
    try testing.expectEqual(a_result, b_result);
    if (a_result != .complete) return;
    try testing.expectEqual(offsetOf(a_buf, a.method), offsetOf(b_buf, b.method));
    try testing.expectEqual(a.method.len, b.method.len);
    try testing.expectEqual(a.method_id, b.method_id);
    try testing.expectEqual(offsetOf(a_buf, a.target), offsetOf(b_buf, b.target));
    try testing.expectEqual(a.target.len, b.target.len);
    try testing.expectEqual(a.version_minor, b.version_minor);
    try testing.expectEqual(a.head_len, b.head_len);
    try testing.expectEqual(a.header_count, b.header_count);
    for (a.headerList(), b.headerList()) |x, y| {
        try testing.expectEqual(offsetOf(a_buf, x.name), offsetOf(b_buf, y.name));
        try testing.expectEqual(x.name.len, y.name.len);
        try testing.expectEqual(offsetOf(a_buf, x.value), offsetOf(b_buf, y.value));
        try testing.expectEqual(x.value.len, y.value.len);
    }
    try testing.expectEqual(a.content_length, b.content_length);
    try testing.expectEqual(a.chunked, b.chunked);
    try testing.expectEqual(a.keep_alive, b.keep_alive);
    try testing.expectEqual(a.expect_continue, b.expect_continue);
    try testing.expectEqualSlices(u8, a.body, b.body);
    try testing.expectEqual(offsetOf(a_buf, a.body), offsetOf(b_buf, b.body));
}

/// Feed every prefix of `bytes`: before the request's last byte each is
/// `.incomplete` (or, for a rejected request, already the same reject);
/// from it on each is exactly the whole's result. An incomplete prefix
/// never holds `maxRequest` bytes. Returns the whole's result.
fn expectEverySplit(bytes: []const u8, limits: Limits) !Result {
    const whole_buf = try testing.allocator.alloc(u8, bytes.len);
    defer testing.allocator.free(whole_buf);
    const part_buf = try testing.allocator.alloc(u8, bytes.len);
    defer testing.allocator.free(part_buf);
    var whole: Request = .{};
    const result = parseInto(whole_buf, bytes, limits, &whole);
    for (0..bytes.len + 1) |cut| {
        var part: Request = .{};
        const r = parseInto(part_buf, bytes[0..cut], limits, &part);
        expectSplit(result, bytes.len, cut, r, limits) catch |err| {
            std.debug.print("split at {d} of {d}: whole {any}, prefix {any}\n{f}\n", .{ cut, bytes.len, result, r, std.zig.fmtString(bytes) });
            return err;
        };
        if (r == .complete) expectSame(whole_buf, &whole, result, part_buf[0..cut], &part, r) catch |err| {
            std.debug.print("split at {d} of {d} differs from the whole\n{f}\n", .{ cut, bytes.len, std.zig.fmtString(bytes) });
            return err;
        };
    }
    return result;
}

fn expectSplit(whole: Result, len: usize, cut: usize, part: Result, limits: Limits) !void {
    if (part == .incomplete) try testing.expect(cut < limits.maxRequest());
    switch (whole) {
        .incomplete => try testing.expectEqual(Result.incomplete, part),
        .reject => {
            if (part != .incomplete) try testing.expectEqual(whole, part);
            if (cut == len) try testing.expectEqual(whole, part);
        },
        .complete => |c| {
            if (cut < c.consumed) try testing.expectEqual(Result.incomplete, part) else try testing.expectEqual(whole, part);
        },
    }
}

const Valid = struct {
    wire: []const u8,
    method: []const u8 = "GET",
    method_id: parser.Method = .get,
    target: []const u8 = "/",
    minor: u1 = 1,
    headers: []const [2][]const u8 = &.{.{ "Host", "a" }},
    keep_alive: bool = true,
    expect_continue: bool = false,
    chunked: bool = false,
    content_length: u32 = 0,
    body: []const u8 = "",
    /// Null: the whole wire.
    consumed: ?u32 = null,
    limits: Limits = .{},
};

const valid_cases = [_]Valid{
    .{ .wire = "GET / HTTP/1.1\r\nHost: a\r\n\r\n" },
    .{ .wire = "GET /x?y=1&z HTTP/1.0\r\n\r\n", .target = "/x?y=1&z", .minor = 0, .headers = &.{}, .keep_alive = false },
    .{ .wire = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n" },
    .{
        .wire = "POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        .method = "POST",
        .method_id = .post,
        .target = "/submit",
        .headers = &.{ .{ "Host", "a" }, .{ "Content-Length", "5" } },
        .content_length = 5,
        .body = "hello",
    },
    .{
        .wire = "PUT /p HTTP/1.1\r\ncontent-length: 3\r\nHost: a\r\nCONTENT-LENGTH: 003\r\n\r\nabcNEXT",
        .method = "PUT",
        .method_id = .put,
        .target = "/p",
        .headers = &.{ .{ "content-length", "3" }, .{ "Host", "a" }, .{ "CONTENT-LENGTH", "003" } },
        .content_length = 3,
        .body = "abc",
        .consumed = 71,
    },
    .{
        .wire = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" ++
            "5;name=value\r\nhello\r\n6 ; q=\"x y\"\t;r\r\n world\r\n0;last\r\nTrailer-A: 1\r\nB:two\r\n\r\n",
        .method = "POST",
        .method_id = .post,
        .headers = &.{ .{ "Host", "a" }, .{ "Transfer-Encoding", "chunked" } },
        .chunked = true,
        .body = "hello world",
    },
    .{
        .wire = "PATCH /c HTTP/1.1\r\nTransfer-Encoding: , Chunked\r\nHost: a\r\n\r\n000A\r\n0123456789\r\n1\r\n\xff\r\n0000\r\n\r\n",
        .method = "PATCH",
        .method_id = .patch,
        .target = "/c",
        .headers = &.{ .{ "Transfer-Encoding", ", Chunked" }, .{ "Host", "a" } },
        .chunked = true,
        .body = "0123456789\xff",
    },
    .{
        .wire = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        .method = "POST",
        .method_id = .post,
        .headers = &.{ .{ "Host", "a" }, .{ "Transfer-Encoding", "chunked" } },
        .chunked = true,
    },
    .{
        .wire = "PUT /u HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\nok",
        .method = "PUT",
        .method_id = .put,
        .target = "/u",
        .headers = &.{ .{ "Host", "a" }, .{ "Expect", "100-Continue" }, .{ "Content-Length", "2" } },
        .expect_continue = true,
        .content_length = 2,
        .body = "ok",
    },
    .{
        // Expect means nothing in HTTP/1.0.
        .wire = "GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n",
        .minor = 0,
        .headers = &.{.{ "Expect", "100-continue" }},
        .keep_alive = false,
    },
    .{
        .wire = "GET / HTTP/1.1\r\nHost:a\r\nX-Tabs: \t v\xe9 \t \r\nX-Empty:\r\nX-Blank:   \r\nX-Inner: a  b\tc\r\n\r\n",
        .headers = &.{ .{ "Host", "a" }, .{ "X-Tabs", "v\xe9" }, .{ "X-Empty", "" }, .{ "X-Blank", "" }, .{ "X-Inner", "a  b\tc" } },
    },
    .{ .wire = "PROPFIND /d HTTP/1.1\r\nHost: a\r\n\r\n", .method = "PROPFIND", .method_id = .other, .target = "/d" },
    .{ .wire = "get / HTTP/1.1\r\nHost: a\r\n\r\n", .method = "get", .method_id = .other },
    .{ .wire = "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", .method = "OPTIONS", .method_id = .options, .target = "*" },
    .{ .wire = "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", .method = "CONNECT", .method_id = .connect, .target = "h:443", .headers = &.{.{ "Host", "h:443" }} },
    .{ .wire = "DELETE http://h/p?q HTTP/1.1\r\nHost: h\r\n\r\n", .method = "DELETE", .method_id = .delete, .target = "http://h/p?q", .headers = &.{.{ "Host", "h" }} },
    .{ .wire = "HEAD /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", .method = "HEAD", .method_id = .head, .target = "/\xc3\xa9" },
    .{ .wire = "TRACE / HTTP/1.7\r\nHost: a\r\n\r\n", .method = "TRACE", .method_id = .trace },
    .{ .wire = "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\n", .consumed = 27 },
    // Limits: exactly at each one passes.
    .{ .wire = "GET /" ++ "t" ** 29 ++ " HTTP/1.1\r\nHost: a\r\n\r\n", .target = "/" ++ "t" ** 29, .limits = small },
    .{
        .wire = "GET / HTTP/1.1\r\nHost: a\r\nB: 1\r\nC: 2\r\nD: 3\r\n\r\n",
        .headers = &.{ .{ "Host", "a" }, .{ "B", "1" }, .{ "C", "2" }, .{ "D", "3" } },
        .limits = small,
    },
    .{
        // 200 bytes of head: 16 + 9 + 3 + 168 + 4.
        .wire = "GET / HTTP/1.1\r\nHost: a\r\nX: " ++ "v" ** 168 ++ "\r\n\r\n",
        .headers = &.{ .{ "Host", "a" }, .{ "X", "v" ** 168 } },
        .limits = small,
    },
    .{
        .wire = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n" ++ "b" ** 100,
        .method = "POST",
        .method_id = .post,
        .headers = &.{ .{ "Host", "a" }, .{ "Content-Length", "100" } },
        .content_length = 100,
        .body = "b" ** 100,
        .limits = small,
    },
    .{
        // 100 bytes of data in 40 bytes of framing: 10+2, 9+2, 4+2, 4+2, 5 (last chunk, blank line).
        .wire = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" ++
            "20;abcde\r\n" ++ "c" ** 32 ++ "\r\n" ++ "20;abcd\r\n" ++ "c" ** 32 ++ "\r\n" ++
            "12\r\n" ++ "c" ** 18 ++ "\r\n" ++ "12\r\n" ++ "c" ** 18 ++ "\r\n" ++ "0\r\n\r\n",
        .method = "POST",
        .method_id = .post,
        .headers = &.{ .{ "Host", "a" }, .{ "Transfer-Encoding", "chunked" } },
        .chunked = true,
        .body = "c" ** 100,
        .limits = small,
    },
};

fn expectValid(case: Valid) !void {
    const buf = try testing.allocator.alloc(u8, case.wire.len);
    defer testing.allocator.free(buf);
    var r: Request = .{};
    const result = parseInto(buf, case.wire, case.limits, &r);
    try testing.expectEqual(Result{ .complete = .{ .consumed = case.consumed orelse @intCast(case.wire.len) } }, result);
    try testing.expectEqualStrings(case.method, r.method);
    try testing.expectEqual(case.method_id, r.method_id);
    try testing.expectEqualStrings(case.target, r.target);
    try testing.expectEqual(case.minor, r.version_minor);
    try testing.expectEqual(case.headers.len, r.header_count);
    for (case.headers, r.headerList()) |expected, h| {
        try testing.expectEqualStrings(expected[0], h.name);
        try testing.expectEqualStrings(expected[1], h.value);
    }
    try testing.expectEqual(case.keep_alive, r.keep_alive);
    try testing.expectEqual(case.expect_continue, r.expect_continue);
    try testing.expectEqual(case.chunked, r.chunked);
    try testing.expectEqual(case.content_length, r.content_length);
    try testing.expectEqualSlices(u8, case.body, r.body);
}

test "http parser: valid requests" {
    for (valid_cases, 0..) |case, i| {
        expectValid(case) catch |err| {
            std.debug.print("valid case {d}: {f}\n", .{ i, std.zig.fmtString(case.wire) });
            return err;
        };
    }
}

test "http parser: header lookup is case-insensitive and finds the first" {
    const wire = "GET / HTTP/1.1\r\nHost: a\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\n";
    var buf: [wire.len]u8 = wire.*;
    var r: Request = .{};
    try testing.expect(parser.parse(&buf, .{}, &r) == .complete);
    try testing.expectEqualStrings("a", r.header("HOST").?);
    try testing.expectEqualStrings("1", r.header("x-DUP").?);
    try testing.expectEqual(@as(?[]const u8, null), r.header("x-none"));
}

const Reject = struct {
    wire: []const u8,
    status: Status,
    limits: Limits = .{},
};

const chunked_head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";

const reject_cases = [_]Reject{
    // Request line.
    .{ .wire = "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", .status = .bad_request },
    .{ .wire = " GET / HTTP/1.1\r\nHost: a\r\n\r\n", .status = .bad_request },
    .{ .wire = "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", .status = .bad_request },
    .{ .wire = "\r\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET /a\x00 HTTP/1.1\r\nHost: a\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET /\r\nHost: a\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET / HTTP/1.1\nHost: a\n\n", .status = .bad_request },
    .{ .wire = "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET / HTTP/1.1X\nHost: a\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET / HTTP/1.1\r\rHost: a\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET / HTTX/1.1\r\nHost: a\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET / http/1.1\r\nHost: a\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET / HTTP/1.10\r\nHost: a\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET / HTTP/11.1\r\nHost: a\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET / HTTP/1.\r\nHost: a\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET / HTTP/1,1\r\nHost: a\r\n\r\n", .status = .bad_request },
    // Field lines.
    .{ .wire = "GET / HTTP/1.1\r\nHost: a\n\r\n", .status = .bad_request },
    .{ .wire = "GET / HTTP/1.1\r\nHost: a\r\n\n", .status = .bad_request },
    .{ .wire = "GET / HTTP/1.1\r\nHost : a\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET / HTTP/1.1\r\nHost: a\r\n\tfolded\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET / HTTP/1.1\r\n Host: a\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET / HTTP/1.1\r\nNoColon\r\nHost: a\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET / HTTP/1.1\r\nHo\x00st: a\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET / HTTP/1.1\r\nH\xe9: a\r\nHost: a\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET / HTTP/1.1\r\nHost: a\x1b[0m\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET / HTTP/1.1\r\nHost: a\r\n\rX", .status = .bad_request },
    // Host.
    .{ .wire = "GET / HTTP/1.1\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", .status = .bad_request },
    .{ .wire = "GET / HTTP/1.0\r\nHost: a\r\nHOST: a\r\n\r\n", .status = .bad_request },
    // Content-Length.
    .{ .wire = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", .status = .bad_request },
    .{ .wire = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", .status = .bad_request },
    .{ .wire = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\nx", .status = .bad_request },
    .{ .wire = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", .status = .bad_request },
    .{ .wire = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", .status = .bad_request },
    .{ .wire = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1,1\r\n\r\nx", .status = .bad_request },
    .{ .wire = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", .status = .bad_request },
    .{ .wire = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n", .status = .bad_request },
    .{ .wire = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", .status = .bad_request },
    // Framing conflicts.
    .{ .wire = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", .status = .bad_request },
    .{ .wire = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", .status = .bad_request },
    .{ .wire = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello", .status = .bad_request },
    .{ .wire = "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", .status = .bad_request },
    .{ .wire = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", .status = .bad_request },
    .{ .wire = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", .status = .bad_request },
    .{ .wire = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", .status = .bad_request },
    .{ .wire = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n\r\n", .status = .bad_request },
    // Chunked framing.
    .{ .wire = chunked_head ++ "zz\r\n", .status = .bad_request },
    .{ .wire = chunked_head ++ "\r\n", .status = .bad_request },
    .{ .wire = chunked_head ++ "-5\r\n", .status = .bad_request },
    .{ .wire = chunked_head ++ "0x5\r\n", .status = .bad_request },
    .{ .wire = chunked_head ++ "5\nhello\r\n0\r\n\r\n", .status = .bad_request },
    .{ .wire = chunked_head ++ "5 \r\nhello\r\n0\r\n\r\n", .status = .bad_request },
    .{ .wire = chunked_head ++ "5 x\r\nhello\r\n0\r\n\r\n", .status = .bad_request },
    .{ .wire = chunked_head ++ "5;a\x01\r\nhello\r\n0\r\n\r\n", .status = .bad_request },
    .{ .wire = chunked_head ++ "5;a\nhello\r\n0\r\n\r\n", .status = .bad_request },
    .{ .wire = chunked_head ++ "5\r\nhelloX\r\n0\r\n\r\n", .status = .bad_request },
    .{ .wire = chunked_head ++ "5\r\nhello\rX0\r\n\r\n", .status = .bad_request },
    .{ .wire = chunked_head ++ "5\r\nhello\n0\r\n\r\n", .status = .bad_request },
    .{ .wire = chunked_head ++ "5\r\nhelloX\n0\r\n\r\n", .status = .bad_request },
    .{ .wire = chunked_head ++ "5\r\nhello\n\n0\r\n\r\n", .status = .bad_request },
    .{ .wire = chunked_head ++ "0\r\nbad trailer\r\n\r\n", .status = .bad_request },
    .{ .wire = chunked_head ++ "0\r\nT: v\n\r\n", .status = .bad_request },
    .{ .wire = chunked_head ++ "0\r\n folded: v\r\n\r\n", .status = .bad_request },
    .{ .wire = chunked_head ++ "0\r\n\n", .status = .bad_request },
    .{ .wire = chunked_head ++ "0\r\n\rX", .status = .bad_request },
    // 413.
    .{ .wire = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n", .status = .content_too_large },
    .{ .wire = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n", .status = .content_too_large },
    .{ .wire = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n", .status = .content_too_large, .limits = small },
    .{ .wire = chunked_head ++ "100001\r\n", .status = .content_too_large },
    .{ .wire = chunked_head ++ "fffffffffffffffffffffffff\r\n", .status = .content_too_large },
    .{ .wire = chunked_head ++ "65\r\n", .status = .content_too_large, .limits = small },
    .{ .wire = chunked_head ++ "32\r\n" ++ "d" ** 50 ++ "\r\n33\r\n", .status = .content_too_large, .limits = small },
    .{ .wire = chunked_head ++ "1;" ++ "e" ** 40 ++ "\r\nx\r\n0\r\n\r\n", .status = .content_too_large, .limits = small },
    .{ .wire = chunked_head ++ "0\r\nT: " ++ "t" ** 40 ++ "\r\n\r\n", .status = .content_too_large, .limits = small },
    .{ .wire = chunked_head ++ "1\r\nx\r\n" ** 7 ++ "1\r\nx\r\n0\r\n\r\n", .status = .content_too_large, .limits = small },
    .{ .wire = chunked_head ++ "0" ** 41 ++ "\r\n\r\n", .status = .content_too_large, .limits = small },
    // 414.
    .{ .wire = "GET /" ++ "t" ** 30 ++ " HTTP/1.1\r\nHost: a\r\n\r\n", .status = .uri_too_long, .limits = small },
    .{ .wire = "GET /" ++ "t" ** 300, .status = .uri_too_long, .limits = small },
    // 431.
    .{ .wire = "GET / HTTP/1.1\r\nHost: a\r\nX: " ++ "v" ** 169 ++ "\r\n\r\n", .status = .header_fields_too_large, .limits = small },
    .{ .wire = "GET / HTTP/1.1\r\nHost: a\r\nX: " ++ "v" ** 500, .status = .header_fields_too_large, .limits = small },
    .{ .wire = "GET / HTTP/1.1\r\nHost: a\r\nB: 1\r\nC: 2\r\nD: 3\r\nE: 4\r\n\r\n", .status = .header_fields_too_large, .limits = small },
    .{ .wire = "\r\n" ** 100 ++ "GET / HTTP/1.1\r\nHost: a\r\n\r\n", .status = .header_fields_too_large, .limits = small },
    .{ .wire = "GET / HTTP/1.1\r\nHost: a\r\nX: \x01" ++ "v" ** 500, .status = .bad_request, .limits = small },
    // 501.
    .{ .wire = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", .status = .not_implemented },
    .{ .wire = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", .status = .not_implemented },
    .{ .wire = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", .status = .not_implemented },
    .{ .wire = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n0\r\n\r\n", .status = .not_implemented },
    .{ .wire = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", .status = .not_implemented },
    .{ .wire = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", .status = .not_implemented },
    // 505.
    .{ .wire = "GET / HTTP/2.0\r\nHost: a\r\n\r\n", .status = .version_not_supported },
    .{ .wire = "GET / HTTP/0.9\r\nHost: a\r\n\r\n", .status = .version_not_supported },
    .{ .wire = "GET / HTTP/3.1\r\nHost: a\r\n\r\n", .status = .version_not_supported },
    .{ .wire = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", .status = .version_not_supported },
};

test "http parser: rejects, every status" {
    var seen: [6]bool = @splat(false);
    for (reject_cases, 0..) |case, i| {
        const buf = try testing.allocator.alloc(u8, case.wire.len);
        defer testing.allocator.free(buf);
        var r: Request = .{};
        const result = parseInto(buf, case.wire, case.limits, &r);
        testing.expectEqual(Result{ .reject = case.status }, result) catch |err| {
            std.debug.print("reject case {d}: got {any}: {f}\n", .{ i, result, std.zig.fmtString(case.wire) });
            return err;
        };
        seen[std.mem.indexOfScalar(u16, &.{ 400, 413, 414, 431, 501, 505 }, @intFromEnum(case.status)).?] = true;
    }
    for (seen) |s| try testing.expect(s);
}

test "http parser: default limits, 414 and 431 at their edges" {
    const target_ok = "GET /" ++ "p" ** 4095 ++ " HTTP/1.1\r\nHost: a\r\n\r\n";
    const target_long = "GET /" ++ "p" ** 4096 ++ " HTTP/1.1\r\nHost: a\r\n\r\n";
    var r: Request = .{};
    var buf: [10000]u8 = undefined;
    try testing.expect(parseInto(&buf, target_ok, .{}, &r) == .complete);
    try testing.expectEqual(@as(usize, 4096), r.target.len);
    try testing.expectEqual(Result{ .reject = .uri_too_long }, parseInto(&buf, target_long, .{}, &r));
    // The 414 comes as soon as the target is too long, before its end.
    // "GET " and 4097 target bytes: long, whatever follows.
    try testing.expectEqual(Result{ .reject = .uri_too_long }, parseInto(&buf, target_long[0..4101], .{}, &r));
    try testing.expectEqual(Result.incomplete, parseInto(&buf, target_long[0..4100], .{}, &r));

    // 8192 bytes of head pass, 8193 do not (value of 8192 - 29 - 4 bytes).
    const prefix = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
    var head_ok: [8192]u8 = undefined;
    @memcpy(head_ok[0..prefix.len], prefix);
    @memset(head_ok[prefix.len .. head_ok.len - 4], 'v');
    head_ok[head_ok.len - 4 ..][0..4].* = "\r\n\r\n".*;
    try testing.expectEqual(Result{ .complete = .{ .consumed = 8192 } }, parseInto(&buf, &head_ok, .{}, &r));
    var head_long: [8193]u8 = undefined;
    @memcpy(head_long[0..prefix.len], prefix);
    @memset(head_long[prefix.len .. head_long.len - 4], 'v');
    head_long[head_long.len - 4 ..][0..4].* = "\r\n\r\n".*;
    try testing.expectEqual(Result{ .reject = .header_fields_too_large }, parseInto(&buf, &head_long, .{}, &r));
    try testing.expectEqual(Result{ .reject = .header_fields_too_large }, parseInto(&buf, head_long[0..8192], .{}, &r));
    try testing.expectEqual(Result.incomplete, parseInto(&buf, head_long[0..8191], .{}, &r));

    // 64 fields pass, 65 do not.
    var fields: [2000]u8 = undefined;
    var len: usize = 0;
    for ([_]u32{ 64, 65 }) |count| {
        len = (try std.fmt.bufPrint(&fields, "GET / HTTP/1.1\r\nHost: a\r\n", .{})).len;
        for (1..count) |i| len += (try std.fmt.bufPrint(fields[len..], "h{d}: {d}\r\n", .{ i, i })).len;
        len += (try std.fmt.bufPrint(fields[len..], "\r\n", .{})).len;
        const result = parseInto(&buf, fields[0..len], .{}, &r);
        if (count == 64) {
            try testing.expect(result == .complete);
            try testing.expectEqual(@as(u32, 64), r.header_count);
            try testing.expectEqualStrings("63", r.headers[63].value);
        } else {
            try testing.expectEqual(Result{ .reject = .header_fields_too_large }, result);
        }
    }
}

test "http parser: keep-alive rules of HTTP/1.0 and 1.1" {
    const cases = [_]struct { []const u8, bool }{
        .{ "GET / HTTP/1.1\r\nHost: a\r\n\r\n", true },
        .{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false },
        .{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n", false },
        .{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n", false },
        .{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n\r\n", true },
        .{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", true },
        .{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: x-close\r\n\r\n", true },
        .{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false },
        .{ "GET / HTTP/1.1\r\nHost: a\r\nconnection:,,close,\r\n\r\n", false },
        .{ "GET / HTTP/1.0\r\n\r\n", false },
        .{ "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true },
        .{ "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true },
        .{ "GET / HTTP/1.0\r\nConnection: upgrade,  KEEP-ALIVE \r\n\r\n", true },
        .{ "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false },
        .{ "GET / HTTP/1.0\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n", false },
        .{ "GET / HTTP/1.0\r\nConnection: keep-alives\r\n\r\n", false },
        .{ "GET / HTTP/1.0\r\nKeep-Alive: timeout=5\r\n\r\n", false },
    };
    var buf: [128]u8 = undefined;
    for (cases) |case| {
        var r: Request = .{};
        try testing.expect(parseInto(&buf, case[0], .{}, &r) == .complete);
        testing.expectEqual(case[1], r.keep_alive) catch |err| {
            std.debug.print("keep-alive case: {f}\n", .{std.zig.fmtString(case[0])});
            return err;
        };
    }
}

test "http parser: pipelined requests in one buffer" {
    const wire = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n" ++
        "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody" ++
        "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n" ++
        "\r\nGET /d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" ++
        "GET /e HTTP/1.1\r\nHo";
    const buf = try testing.allocator.dupe(u8, wire);
    defer testing.allocator.free(buf);
    const expected = [_]struct { []const u8, []const u8, bool }{
        .{ "/a", "", true },
        .{ "/b", "body", true },
        .{ "/c", "abcde", true },
        .{ "/d", "", true },
    };
    var at: u32 = 0;
    for (expected) |e| {
        var r: Request = .{};
        const result = parser.parse(buf[at..], .{}, &r);
        try checkInside(buf[at..], &r, result);
        try testing.expect(result == .complete);
        try testing.expectEqualStrings(e[0], r.target);
        try testing.expectEqualStrings(e[1], r.body);
        try testing.expectEqual(e[2], r.keep_alive);
        at += result.complete.consumed;
    }
    var r: Request = .{};
    try testing.expectEqual(Result.incomplete, parser.parse(buf[at..], .{}, &r));
    try testing.expectEqualStrings("GET /e HTTP/1.1\r\nHo", buf[at..]);
    // The decoding stayed inside the chunked request.
    const c_start = std.mem.indexOf(u8, wire, "POST /c").?;
    const d_start = std.mem.indexOf(u8, wire, "\r\nGET /d").?;
    try testing.expectEqualStrings(wire[0..c_start], buf[0..c_start]);
    try testing.expectEqualStrings(wire[d_start..], buf[d_start..]);
}

test "http parser: the head is known while the body is incomplete" {
    const wire = "PUT /u HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n01234";
    const buf = try testing.allocator.dupe(u8, wire);
    defer testing.allocator.free(buf);
    var r: Request = .{};
    try testing.expectEqual(Result.incomplete, parser.parse(buf, .{}, &r));
    try testing.expectEqual(@as(u32, wire.len - 5), r.head_len);
    try testing.expect(r.expect_continue);
    try testing.expectEqual(@as(u32, 10), r.content_length);
    try testing.expectEqualStrings("/u", r.target);
    // Not yet at the end of the head: head_len stays 0.
    try testing.expectEqual(Result.incomplete, parser.parse(buf[0 .. wire.len - 8], .{}, &r));
    try testing.expectEqual(@as(u32, 0), r.head_len);
    // A chunked body in progress writes nothing.
    const chunked = chunked_head ++ "5\r\nhello\r\n3\r\nab";
    const copy = try testing.allocator.dupe(u8, chunked);
    defer testing.allocator.free(copy);
    try testing.expectEqual(Result.incomplete, parser.parse(copy, .{}, &r));
    try testing.expect(r.chunked and r.head_len == chunked_head.len);
    try testing.expectEqualStrings(chunked, copy);
}

test "http parser: every split point of the tables" {
    for (valid_cases) |case| {
        const result = try expectEverySplit(case.wire, case.limits);
        try testing.expect(result == .complete);
    }
    for (reject_cases) |case| {
        const result = try expectEverySplit(case.wire, case.limits);
        try testing.expectEqual(Result{ .reject = case.status }, result);
    }
}

// Random requests: a generator writes a valid request and what parsing it
// must give; the tests parse and compare, split, and mutate.

const token_alphabet = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const path_alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/%";

const Range = struct {
    start: u32,
    len: u32,
};

const Expected = struct {
    start: u32 = 0,
    end: u32 = 0,
    method: Range = undefined,
    method_id: parser.Method = .other,
    target: Range = undefined,
    minor: u1 = 1,
    names: [24]Range = undefined,
    values: [24]Range = undefined,
    count: u32 = 0,
    keep_alive: bool = false,
    expect_continue: bool = false,
    chunked: bool = false,
    content_length: u32 = 0,
    head_len: u32 = 0,
    body: [400]u8 = undefined,
    body_len: u32 = 0,
};

const Framing = enum { none, length, chunked };

const Gen = struct {
    rng: Rng,
    wire: [24 * 1024]u8 = undefined,
    len: u32 = 0,

    fn below(g: *Gen, n: u32) u32 {
        return g.rng.below(n);
    }

    fn chance(g: *Gen, one_in: u32) bool {
        return g.rng.below(one_in) == 0;
    }

    fn put(g: *Gen, bytes: []const u8) void {
        @memcpy(g.wire[g.len..][0..bytes.len], bytes);
        g.len += @intCast(bytes.len);
    }

    fn byte(g: *Gen, c: u8) void {
        g.wire[g.len] = c;
        g.len += 1;
    }

    fn pick(g: *Gen, alphabet: []const u8) u8 {
        return alphabet[g.below(@intCast(alphabet.len))];
    }

    fn ows(g: *Gen) void {
        for (0..g.below(3)) |_| g.byte(if (g.chance(3)) '\t' else ' ');
    }

    /// Upper or lower case, at random, per byte.
    fn anyCase(g: *Gen, text: []const u8) void {
        for (text) |c| g.byte(if (g.chance(2)) std.ascii.toUpper(c) else c);
    }

    fn fieldByte(g: *Gen) u8 {
        return switch (g.below(8)) {
            0 => 0x80 + @as(u8, @intCast(g.below(0x80))),
            1 => if (g.chance(2)) ' ' else '\t',
            else => 0x21 + @as(u8, @intCast(g.below(0x7f - 0x21))),
        };
    }

    /// A field: `name:` OWS value OWS CRLF, with the value recorded
    /// trimmed. `value` null: random field bytes.
    fn field(g: *Gen, e: *Expected, name: []const u8, value: ?[]const u8) void {
        const name_start = g.len;
        g.anyCase(name);
        e.names[e.count] = .{ .start = name_start, .len = @intCast(name.len) };
        g.byte(':');
        g.ows();
        const value_start = g.len;
        if (value) |v| {
            g.put(v);
        } else {
            const n = g.below(40);
            for (0..n) |i| {
                var c = g.fieldByte();
                // No whitespace at either end: it would be trimmed.
                if ((i == 0 or i == n - 1) and (c == ' ' or c == '\t')) c = 'w';
                g.byte(c);
            }
        }
        e.values[e.count] = .{ .start = value_start, .len = g.len - value_start };
        e.count += 1;
        g.ows();
        g.put("\r\n");
    }

    fn hex(g: *Gen, n: u32) void {
        for (0..g.below(3)) |_| g.byte('0');
        var digits: [8]u8 = undefined;
        const text = std.fmt.bufPrint(&digits, "{x}", .{n}) catch unreachable;
        g.anyCase(text);
    }

    fn chunkExtension(g: *Gen) void {
        switch (g.below(6)) {
            0 => g.put(";a"),
            1 => g.put(";name=value"),
            2 => g.put(" ;q=\"x y\""),
            3 => g.put("\t; k = v ;flag"),
            else => {},
        }
    }

    /// Append one request; `e` says what parsing it must give.
    fn request(g: *Gen, e: *Expected) void {
        e.* = .{ .start = g.len };
        if (g.chance(16)) g.put("\r\n");

        const methods = [_]struct { []const u8, parser.Method }{
            .{ "GET", .get },     .{ "HEAD", .head },     .{ "POST", .post },
            .{ "PUT", .put },     .{ "DELETE", .delete }, .{ "OPTIONS", .options },
            .{ "PATCH", .patch }, .{ "TRACE", .trace },   .{ "PROPFIND", .other },
        };
        const method_start = g.len;
        if (g.chance(8)) {
            for (0..1 + g.below(12)) |_| g.byte(g.pick(token_alphabet));
            // A random token may spell a known method.
            e.method_id = methodOf(g.wire[method_start..g.len]);
        } else {
            const m = methods[g.below(methods.len)];
            g.put(m[0]);
            e.method_id = m[1];
        }
        e.method = .{ .start = method_start, .len = g.len - method_start };
        g.byte(' ');

        const target_start = g.len;
        switch (g.below(20)) {
            0 => g.byte('*'),
            1 => g.put("http://example.com/x"),
            else => {
                g.byte('/');
                for (0..g.below(60)) |_| g.byte(if (g.chance(20)) 0x80 + @as(u8, @intCast(g.below(0x80))) else g.pick(path_alphabet));
                if (g.chance(2)) {
                    g.byte('?');
                    for (0..g.below(40)) |_| g.byte(g.pick(path_alphabet ++ "?"));
                }
            },
        }
        e.target = .{ .start = target_start, .len = g.len - target_start };
        e.minor = if (g.chance(4)) 0 else 1;
        g.put(if (e.minor == 0) " HTTP/1.0\r\n" else " HTTP/1.1\r\n");

        // The fields, in a random order.
        const Kind = enum { host, connection, expect, framing, other };
        var kinds: [20]Kind = undefined;
        var n: u32 = 0;
        if (e.minor == 1 or g.chance(2)) {
            kinds[n] = .host;
            n += 1;
        }
        for ([_]Kind{ .connection, .expect, .framing }) |k| {
            if (g.chance(2)) {
                kinds[n] = k;
                n += 1;
            }
        }
        for (0..g.below(12)) |_| {
            kinds[n] = .other;
            n += 1;
        }
        var i = n;
        while (i > 1) : (i -= 1) std.mem.swap(Kind, &kinds[i - 1], &kinds[g.below(i)]);

        const framing: Framing = if (e.minor == 1 and g.chance(2)) .chunked else if (g.chance(3)) .none else .length;
        e.body_len = g.below(300);
        for (e.body[0..e.body_len]) |*c| c.* = @intCast(g.below(256));
        var close = false;
        var keep_alive = false;
        var saw_framing = false;
        for (kinds[0..n]) |kind| switch (kind) {
            .host => g.field(e, "Host", if (g.chance(2)) "localhost:8000" else "example.com"),
            .connection => {
                const options = [_]struct { []const u8, bool, bool }{
                    .{ "close", true, false },               .{ "keep-alive", false, true },
                    .{ "Keep-Alive, Upgrade", false, true }, .{ "upgrade", false, false },
                    .{ "Upgrade,  close", true, false },     .{ "TE, keep-alive ,foo", false, true },
                };
                const o = options[g.below(options.len)];
                g.field(e, "Connection", o[0]);
                close = o[1];
                keep_alive = o[2];
            },
            .expect => {
                g.field(e, "Expect", if (g.chance(2)) "100-continue" else "100-Continue");
                e.expect_continue = e.minor == 1;
            },
            .framing => {
                saw_framing = true;
                switch (framing) {
                    .none => g.field(e, "X-None", "framing"),
                    .length => {
                        var digits: [12]u8 = undefined;
                        g.field(e, "Content-Length", std.fmt.bufPrint(&digits, "{d}", .{e.body_len}) catch unreachable);
                    },
                    .chunked => g.field(e, "Transfer-Encoding", if (g.chance(2)) "chunked" else "Chunked"),
                }
            },
            .other => {
                var name: [18]u8 = undefined;
                name[0..2].* = "x-".*;
                const name_len = 2 + 1 + g.below(16);
                for (name[2..name_len]) |*c| c.* = g.pick(token_alphabet);
                g.field(e, name[0..name_len], null);
            },
        };
        // Framing was not drawn: no body.
        const used: Framing = if (saw_framing) framing else .none;
        if (used == .none) e.body_len = 0;
        e.keep_alive = if (close) false else if (e.minor == 1) true else keep_alive;
        g.put("\r\n");
        e.head_len = g.len - e.start;

        switch (used) {
            .none => {},
            .length => {
                e.content_length = e.body_len;
                g.put(e.body[0..e.body_len]);
            },
            .chunked => {
                e.chunked = true;
                var at: u32 = 0;
                while (at < e.body_len) {
                    const size = @min(e.body_len - at, 1 + g.below(64));
                    g.hex(size);
                    g.chunkExtension();
                    g.put("\r\n");
                    g.put(e.body[at..][0..size]);
                    g.put("\r\n");
                    at += size;
                }
                g.hex(0);
                g.chunkExtension();
                g.put("\r\n");
                for (0..g.below(3)) |t| {
                    var trailer: Expected = .{};
                    g.field(&trailer, if (t == 0) "X-Trailer" else "Digest", null);
                }
                g.put("\r\n");
            },
        }
        e.end = g.len;
    }
};

fn methodOf(name: []const u8) parser.Method {
    const names = [_]struct { []const u8, parser.Method }{
        .{ "GET", .get },       .{ "HEAD", .head },       .{ "POST", .post },       .{ "PUT", .put },
        .{ "DELETE", .delete }, .{ "CONNECT", .connect }, .{ "OPTIONS", .options }, .{ "TRACE", .trace },
        .{ "PATCH", .patch },
    };
    for (names) |n| if (std.mem.eql(u8, n[0], name)) return n[1];
    return .other;
}

/// `r`, parsed from `work` (a copy of `wire` at the same offsets), is `e`.
fn expectGenerated(wire: []const u8, work: []const u8, e: *const Expected, r: *const Request, result: Result) !void {
    try testing.expectEqual(Result{ .complete = .{ .consumed = e.end - e.start } }, result);
    const base = @intFromPtr(work.ptr);
    try testing.expectEqual(base + e.method.start, @intFromPtr(r.method.ptr));
    try testing.expectEqualStrings(wire[e.method.start..][0..e.method.len], r.method);
    try testing.expectEqual(e.method_id, r.method_id);
    try testing.expectEqual(base + e.target.start, @intFromPtr(r.target.ptr));
    try testing.expectEqualStrings(wire[e.target.start..][0..e.target.len], r.target);
    try testing.expectEqual(e.minor, r.version_minor);
    try testing.expectEqual(e.count, r.header_count);
    for (r.headerList(), 0..) |h, i| {
        try testing.expectEqual(base + e.names[i].start, @intFromPtr(h.name.ptr));
        try testing.expectEqualStrings(wire[e.names[i].start..][0..e.names[i].len], h.name);
        try testing.expectEqualStrings(wire[e.values[i].start..][0..e.values[i].len], h.value);
    }
    try testing.expectEqual(e.keep_alive, r.keep_alive);
    try testing.expectEqual(e.expect_continue, r.expect_continue);
    try testing.expectEqual(e.chunked, r.chunked);
    try testing.expectEqual(e.content_length, r.content_length);
    try testing.expectEqual(e.head_len, r.head_len);
    try testing.expectEqual(base + e.start + e.head_len, @intFromPtr(r.body.ptr));
    try testing.expectEqualSlices(u8, e.body[0..e.body_len], r.body);
}

fn testSeed() u64 {
    const text = std.process.getEnvVarOwned(testing.allocator, "AVX_HTTP_SEED") catch {
        var seed: u64 = undefined;
        std.crypto.random.bytes(std.mem.asBytes(&seed));
        return seed;
    };
    defer testing.allocator.free(text);
    return std.fmt.parseInt(u64, text, 10) catch @panic("AVX_HTTP_SEED: not a number");
}

test "http parser: random valid requests round-trip, pipelined and split" {
    const seed = testSeed();
    std.debug.print("http parser random round-trip: seed {d} (AVX_HTTP_SEED={d} replays)\n", .{ seed, seed });
    const gen = try testing.allocator.create(Gen);
    defer testing.allocator.destroy(gen);
    gen.* = .{ .rng = Rng.init(seed, 1) };
    var expected: [4]Expected = undefined;
    var stats: struct { requests: u32 = 0, chunked: u32 = 0, length: u32 = 0, splits: u32 = 0 } = .{};

    for (0..2000) |round| {
        gen.len = 0;
        const count = 1 + gen.below(4);
        for (expected[0..count]) |*e| gen.request(e);
        const wire = gen.wire[0..gen.len];
        const work = try testing.allocator.dupe(u8, wire);
        defer testing.allocator.free(work);

        var at: u32 = 0;
        for (expected[0..count], 0..) |*e, i| {
            var r: Request = .{};
            const result = parser.parse(work[at..], .{}, &r);
            try checkInside(work[at..], &r, result);
            expectGenerated(wire, work, e, &r, result) catch |err| {
                std.debug.print("seed {d} round {d} request {d}: {f}\n", .{ seed, round, i, std.zig.fmtString(wire[e.start..e.end]) });
                return err;
            };
            at = e.end;
            stats.requests += 1;
            if (e.chunked) stats.chunked += 1;
            if (e.content_length > 0) stats.length += 1;
        }
        var r: Request = .{};
        try testing.expectEqual(Result.incomplete, parser.parse(work[at..], .{}, &r));

        if (round % 16 == 0) {
            _ = expectEverySplit(wire, .{}) catch |err| {
                std.debug.print("seed {d} round {d}\n", .{ seed, round });
                return err;
            };
            stats.splits += 1;
        }
    }
    // The generator reaches every framing.
    try testing.expect(stats.chunked > 100 and stats.length > 100 and stats.splits > 100);
}

/// Bytes a mutation inserts: the ones framing and smuggling turn on.
const interesting = "\r\n :;,\t\x00\x7f\x80\xff0123456789abcdefABCDEF-+\"";

fn mutate(rng: *Rng, buf: []u8, len: u32) u32 {
    var n = len;
    for (0..1 + rng.below(3)) |_| {
        if (n == 0) break;
        const at = rng.below(n);
        switch (rng.below(5)) {
            0 => buf[at] = @intCast(rng.below(256)),
            1 => buf[at] = interesting[rng.below(interesting.len)],
            2 => if (n < buf.len) {
                std.mem.copyBackwards(u8, buf[at + 1 .. n + 1], buf[at..n]);
                buf[at] = interesting[rng.below(interesting.len)];
                n += 1;
            },
            3 => {
                std.mem.copyForwards(u8, buf[at .. n - 1], buf[at + 1 .. n]);
                n -= 1;
            },
            4 => n = at,
            else => unreachable,
        }
    }
    return n;
}

test "http parser: random mutations never crash, stay in bounds, agree on every split" {
    const seed = testSeed();
    std.debug.print("http parser random mutations: seed {d} (AVX_HTTP_SEED={d} replays)\n", .{ seed, seed });
    const gen = try testing.allocator.create(Gen);
    defer testing.allocator.destroy(gen);
    gen.* = .{ .rng = Rng.init(seed, 2) };
    var rng = Rng.init(seed, 3);
    var outcomes: [4]u32 = @splat(0); // complete, incomplete, reject 400, other rejects
    var mutated: [24 * 1024 + 16]u8 = undefined;

    for (0..20_000) |round| {
        gen.len = 0;
        var e: Expected = undefined;
        gen.request(&e);
        @memcpy(mutated[0..gen.len], gen.wire[0..gen.len]);
        const n = mutate(&rng, &mutated, gen.len);
        const limits: Limits = if (round % 4 == 0) small else .{};

        const work = try testing.allocator.dupe(u8, mutated[0..n]);
        defer testing.allocator.free(work);
        var r: Request = .{};
        const result = parser.parse(work, limits, &r);
        checkInside(work, &r, result) catch |err| {
            std.debug.print("seed {d} round {d}: {f}\n", .{ seed, round, std.zig.fmtString(mutated[0..n]) });
            return err;
        };
        outcomes[
            switch (result) {
                .complete => 0,
                .incomplete => 1,
                .reject => |s| if (s == .bad_request) @as(u32, 2) else 3,
            }
        ] += 1;
        if (round % 32 == 0) {
            _ = expectEverySplit(mutated[0..n], limits) catch |err| {
                std.debug.print("seed {d} round {d}\n", .{ seed, round });
                return err;
            };
        }
    }
    // The mutations reach every kind of outcome.
    for (outcomes) |o| try testing.expect(o > 100);
}

test "http parser: random requests under small limits agree on every split" {
    const seed = testSeed();
    std.debug.print("http parser random limits: seed {d} (AVX_HTTP_SEED={d} replays)\n", .{ seed, seed });
    const gen = try testing.allocator.create(Gen);
    defer testing.allocator.destroy(gen);
    gen.* = .{ .rng = Rng.init(seed, 4) };
    var rejects: [6]u32 = @splat(0);
    // At least 300 rounds, and on until each limit's status has been seen
    // (random limits make any one of them rare in a short run), bounded.
    var round: u32 = 0;
    while (round < 300 or !(rejects[1] > 0 and rejects[2] > 0 and rejects[3] > 0)) : (round += 1) {
        if (round == 20_000) break;
        gen.len = 0;
        var e: Expected = undefined;
        gen.request(&e);
        const limits: Limits = .{
            .max_head = 16 + gen.below(400),
            .max_headers = gen.below(8),
            .max_target = 1 + gen.below(60),
            .max_body = gen.below(300),
            .max_framing = gen.below(100),
        };
        const result = expectEverySplit(gen.wire[0..gen.len], limits) catch |err| {
            std.debug.print("seed {d} round {d} limits {any}\n", .{ seed, round, limits });
            return err;
        };
        if (result == .reject) {
            rejects[std.mem.indexOfScalar(u16, &.{ 400, 413, 414, 431, 501, 505 }, @intFromEnum(result.reject)).?] += 1;
        }
    }
    // 413, 414 and 431 (the limits) all happen.
    try testing.expect(rejects[1] > 0 and rejects[2] > 0 and rejects[3] > 0);
}
