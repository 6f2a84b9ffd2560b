//! Tests of native/http/response.zig: exact bytes, refusals, dates.
const std = @import("std");
const testing = std.testing;
const response = @import("response.zig");
const Header = response.Header;
const Date = response.Date;
const Rng = @import("../core/rng.zig").Rng;

fn head(out: []u8, status: u16, headers: []const Header, body_len: ?u64, options: response.Options) ![]const u8 {
    const n = try response.writeHead(out, status, headers, body_len, options);
    return out[0..n];
}

test "http response: exact heads" {
    var buf: [512]u8 = undefined;
    try testing.expectEqualStrings(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\n",
        try head(&buf, 200, &.{.{ .name = "content-type", .value = "text/plain" }}, 5, .{}),
    );
    const date: Date = .init(784111777);
    try testing.expectEqualStrings(
        "HTTP/1.1 404 Not Found\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\nconnection: close\r\n" ++
            "x-a: 1\r\nX-B: two words\r\ntransfer-encoding: chunked\r\n\r\n",
        try head(&buf, 404, &.{ .{ .name = "x-a", .value = "1" }, .{ .name = "X-B", .value = "two words" } }, null, .{ .date = &date, .connection = .close }),
    );
    try testing.expectEqualStrings(
        "HTTP/1.1 200 OK\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n",
        try head(&buf, 200, &.{}, 0, .{ .connection = .keep_alive }),
    );
    // Bodiless statuses get no framing field, even if asked for a length.
    try testing.expectEqualStrings("HTTP/1.1 204 No Content\r\n\r\n", try head(&buf, 204, &.{}, 0, .{}));
    try testing.expectEqualStrings("HTTP/1.1 304 Not Modified\r\netag: \"x\"\r\n\r\n", try head(&buf, 304, &.{.{ .name = "etag", .value = "\"x\"" }}, null, .{}));
    try testing.expectEqualStrings(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n",
        try head(&buf, 101, &.{ .{ .name = "upgrade", .value = "websocket" }, .{ .name = "connection", .value = "upgrade" } }, null, .{}),
    );
    try testing.expectEqualStrings(response.continue_head, try head(&buf, 100, &.{}, null, .{}));
    // Generic phrases by class; large lengths.
    try testing.expectEqualStrings("HTTP/1.1 299 Success\r\ncontent-length: 18446744073709551615\r\n\r\n", try head(&buf, 299, &.{}, std.math.maxInt(u64), .{}));
    try testing.expectEqualStrings("HTTP/1.1 799 Unknown\r\ncontent-length: 10\r\n\r\n", try head(&buf, 799, &.{}, 10, .{}));
    try testing.expectEqualStrings("HTTP/1.1 418 Client Error\r\ncontent-length: 0\r\n\r\n", try head(&buf, 418, &.{}, 0, .{}));
    // Empty values and tabs/obs-text inside values are fine.
    try testing.expectEqualStrings("HTTP/1.1 200 OK\r\nx-e: \r\nx-t: a\tb\xe9\r\ncontent-length: 0\r\n\r\n", try head(&buf, 200, &.{ .{ .name = "x-e", .value = "" }, .{ .name = "x-t", .value = "a\tb\xe9" } }, 0, .{}));
}

test "http response: the writer owns framing fields" {
    var buf: [256]u8 = undefined;
    const headers = [_]Header{
        .{ .name = "Content-Length", .value = "999" },
        .{ .name = "x-keep", .value = "1" },
        .{ .name = "TRANSFER-ENCODING", .value = "gzip" },
    };
    try testing.expectEqualStrings("HTTP/1.1 200 OK\r\nx-keep: 1\r\ncontent-length: 3\r\n\r\n", try head(&buf, 200, &headers, 3, .{}));
    try testing.expectEqualStrings("HTTP/1.1 200 OK\r\nx-keep: 1\r\ntransfer-encoding: chunked\r\n\r\n", try head(&buf, 200, &headers, null, .{}));
}

test "http response: header injection and bad statuses are refused" {
    var buf: [256]u8 = undefined;
    const bad_names = [_][]const u8{ "", "x a", "x:a", "x\r\ny", "x\n", "a\x00", "\xe9", "x\t", "(x)" };
    for (bad_names) |name| {
        try testing.expectError(error.InvalidHeader, response.writeHead(&buf, 200, &.{.{ .name = name, .value = "v" }}, 0, .{}));
    }
    const bad_values = [_][]const u8{ "a\r\nset-cookie: x", "a\nb", "a\rb", "\x00", "a\x7f", "\x1b[0m", "x\r\n\r\nHTTP/1.1 200 OK" };
    for (bad_values) |value| {
        try testing.expectError(error.InvalidHeader, response.writeHead(&buf, 200, &.{.{ .name = "x", .value = value }}, 0, .{}));
        // A bad header anywhere in the list refuses the whole head.
        try testing.expectError(error.InvalidHeader, response.writeHead(&buf, 200, &.{ .{ .name = "ok", .value = "ok" }, .{ .name = "x", .value = value } }, null, .{}));
    }
    for ([_]u16{ 0, 99, 1000, 65535 }) |status| {
        try testing.expectError(error.InvalidStatus, response.writeHead(&buf, status, &.{}, 0, .{}));
    }
    for ([_]u16{ 200, 399, 600, 99 }) |status| {
        try testing.expectError(error.InvalidStatus, response.writeError(&buf, status, null));
    }
}

test "http response: every short buffer is NoSpace" {
    var full: [256]u8 = undefined;
    const date: Date = .init(0);
    const headers = [_]Header{.{ .name = "x-a", .value = "value" }};
    const n = try response.writeHead(&full, 503, &headers, 12345, .{ .date = &date, .connection = .close });
    var short: [256]u8 = undefined;
    for (0..n) |cap| {
        try testing.expectError(error.NoSpace, response.writeHead(short[0..cap], 503, &headers, 12345, .{ .date = &date, .connection = .close }));
    }
    try testing.expectEqual(n, try response.writeHead(short[0..n], 503, &headers, 12345, .{ .date = &date, .connection = .close }));
    try testing.expectEqualSlices(u8, full[0..n], short[0..n]);

    const e = try response.writeError(&full, 431, null);
    for (0..e) |cap| try testing.expectError(error.NoSpace, response.writeError(short[0..cap], 431, null));
    const c = try response.writeChunk(&full, "hello");
    for (0..c) |cap| try testing.expectError(error.NoSpace, response.writeChunk(short[0..cap], "hello"));
    for (0..5) |cap| try testing.expectError(error.NoSpace, response.writeLastChunk(short[0..cap]));
}

test "http response: writeError" {
    var buf: [256]u8 = undefined;
    var n = try response.writeError(&buf, 400, null);
    try testing.expectEqualStrings("HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: 12\r\n\r\nBad Request\n", buf[0..n]);
    const date: Date = .init(1700000000);
    n = try response.writeError(&buf, 431, &date);
    try testing.expectEqualStrings(
        "HTTP/1.1 431 Request Header Fields Too Large\r\ndate: Tue, 14 Nov 2023 22:13:20 GMT\r\nconnection: close\r\n" ++
            "content-type: text/plain\r\ncontent-length: 32\r\n\r\nRequest Header Fields Too Large\n",
        buf[0..n],
    );
    // Every status the parser rejects with has its phrase.
    for ([_]u16{ 400, 413, 414, 431, 501, 505 }) |status| {
        n = try response.writeError(&buf, status, null);
        const text = buf[0..n];
        const body_at = std.mem.indexOf(u8, text, "\r\n\r\n").? + 4;
        const phrase = response.reasonPhrase(status);
        try testing.expect(!std.mem.eql(u8, phrase, "Client Error") and !std.mem.eql(u8, phrase, "Server Error"));
        try testing.expectEqualStrings(phrase, text[body_at .. text.len - 1]);
    }
}

test "http response: chunks" {
    var buf: [64]u8 = undefined;
    var n = try response.writeChunk(&buf, "hello");
    try testing.expectEqualStrings("5\r\nhello\r\n", buf[0..n]);
    n = try response.writeChunk(&buf, "0123456789abcdefXYZ");
    try testing.expectEqualStrings("13\r\n0123456789abcdefXYZ\r\n", buf[0..n]);
    // An empty chunk would end the body: nothing is written.
    try testing.expectEqual(@as(u32, 0), try response.writeChunk(&buf, ""));
    n = try response.writeChunkHead(&buf, 0x1000);
    try testing.expectEqualStrings("1000\r\n", buf[0..n]);
    n = try response.writeChunkHead(&buf, std.math.maxInt(u64));
    try testing.expectEqualStrings("ffffffffffffffff\r\n", buf[0..n]);
    n = try response.writeLastChunk(&buf);
    try testing.expectEqualStrings("0\r\n\r\n", buf[0..n]);
}

test "http response: date formatting of known timestamps" {
    const cases = [_]struct { u64, []const u8 }{
        .{ 0, "Thu, 01 Jan 1970 00:00:00 GMT" },
        .{ 784111777, "Sun, 06 Nov 1994 08:49:37 GMT" },
        .{ 951782400, "Tue, 29 Feb 2000 00:00:00 GMT" },
        .{ 951868799, "Tue, 29 Feb 2000 23:59:59 GMT" },
        .{ 1234567890, "Fri, 13 Feb 2009 23:31:30 GMT" },
        .{ 1700000000, "Tue, 14 Nov 2023 22:13:20 GMT" },
        .{ 4107542400, "Mon, 01 Mar 2100 00:00:00 GMT" },
        .{ Date.max_seconds, "Fri, 31 Dec 9999 23:59:59 GMT" },
    };
    for (cases) |case| {
        const date: Date = .init(case[0]);
        try testing.expectEqualStrings(case[1], &date.text);
    }
    var date: Date = .init(0);
    try testing.expect(!date.update(0));
    try testing.expect(date.update(784111777));
    try testing.expectEqualStrings("Sun, 06 Nov 1994 08:49:37 GMT", &date.text);
    try testing.expect(!date.update(784111777));
    // A clock stepping back still reformats.
    try testing.expect(date.update(0));
    try testing.expectEqualStrings("Thu, 01 Jan 1970 00:00:00 GMT", &date.text);
}

test "http response: date agrees with std.time.epoch over random seconds" {
    const months = [12][]const u8{ "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    var rng = Rng.init(0x5eed_da7e, 0);
    var expected: [64]u8 = undefined;
    for (0..20_000) |i| {
        // Half near now (and every day boundary near it), half anywhere.
        const seconds = if (i % 2 == 0) 1_600_000_000 + rng.next() % 1_000_000_000 else rng.next() % (Date.max_seconds + 1);
        const date: Date = .init(seconds);
        const epoch: std.time.epoch.EpochSeconds = .{ .secs = seconds };
        const year_day = epoch.getEpochDay().calculateYearDay();
        const month_day = year_day.calculateMonthDay();
        const day_seconds = epoch.getDaySeconds();
        const text = try std.fmt.bufPrint(&expected, "{d:0>2} {s} {d:0>4} {d:0>2}:{d:0>2}:{d:0>2} GMT", .{
            month_day.day_index + 1,
            months[month_day.month.numeric() - 1],
            year_day.year,
            day_seconds.getHoursIntoDay(),
            day_seconds.getMinutesIntoHour(),
            day_seconds.getSecondsIntoMinute(),
        });
        testing.expectEqualStrings(text, date.text[5..]) catch |err| {
            std.debug.print("date mismatch at {d}\n", .{seconds});
            return err;
        };
    }
}
