//! HTTP/1.1 response heads and chunk framing, written into a caller's
//! buffer. No I/O, no allocation, no clock: the `date` field comes from a
//! `Date` the caller refreshes with the current unix second, so formatting
//! happens at most once per second and never in the writer.
//!
//! The writer owns the framing: it writes `content-length` or
//! `transfer-encoding: chunked` itself and drops those names from the
//! caller's headers, so a handler cannot send a second, conflicting
//! framing. Names must be tokens and values free of control bytes (CR and
//! LF above all): a handler cannot inject a header or split the response.
//!
//! On any error the bytes written to `out` are unspecified.
const std = @import("std");
const assert = std.debug.assert;
const maxInt = std.math.maxInt;
const parser = @import("parser.zig");

pub const Header = parser.Header;

pub const Error = error{
    /// `out` is too small.
    NoSpace,
    /// A header name that is not a token, or a value with a control byte.
    InvalidHeader,
    /// A status outside 100..999 (writeError: outside 400..599).
    InvalidStatus,
};

pub const Connection = enum {
    /// Nothing: HTTP/1.1 keeps the connection open by default.
    default,
    /// `connection: close`: the server closes after this response.
    close,
    /// `connection: keep-alive`, which an HTTP/1.0 client needs to reuse
    /// the connection.
    keep_alive,
};

pub const Options = struct {
    date: ?*const Date = null,
    connection: Connection = .default,
};

/// The interim answer to `Expect: 100-continue`.
pub const continue_head = "HTTP/1.1 100 Continue\r\n\r\n";
/// What follows a chunk's data (after `writeChunkHead`).
pub const chunk_end = "\r\n";
/// The end of a chunked body (no trailers).
pub const last_chunk = "0\r\n\r\n";

/// Write the status line, the fields and the blank line; return the bytes
/// written. `body_len` null means a chunked body follows. 1xx, 204 and 304
/// responses carry no body, so no framing field is written for them
/// (RFC 9110 8.6, 6.4.1); the caller sends no body either.
pub fn writeHead(out: []u8, status: u16, headers: []const Header, body_len: ?u64, options: Options) Error!u32 {
    if (status < 100 or status > 999) return error.InvalidStatus;
    for (headers) |h| {
        if (!parser.validFieldName(h.name) or !parser.validFieldValue(h.value)) return error.InvalidHeader;
    }

    var w: Writer = .init(out);
    try w.put("HTTP/1.1 ");
    try w.decimal(status);
    try w.put(" ");
    try w.put(reasonPhrase(status));
    try w.put("\r\n");
    if (options.date) |date| {
        try w.put("date: ");
        try w.put(&date.text);
        try w.put("\r\n");
    }
    switch (options.connection) {
        .default => {},
        .close => try w.put("connection: close\r\n"),
        .keep_alive => try w.put("connection: keep-alive\r\n"),
    }
    for (headers) |h| {
        if (framingField(h.name)) continue;
        try w.put(h.name);
        try w.put(": ");
        try w.put(h.value);
        try w.put("\r\n");
    }
    if (bodyAllowed(status)) {
        if (body_len) |n| {
            try w.put("content-length: ");
            try w.decimal(n);
            try w.put("\r\n");
        } else {
            try w.put("transfer-encoding: chunked\r\n");
        }
    }
    try w.put("\r\n");
    return w.len;
}

/// A complete response to a request the parser rejected (or any 4xx/5xx
/// the server answers itself): `connection: close` and the reason phrase
/// as a small text body.
pub fn writeError(out: []u8, status: u16, date: ?*const Date) Error!u32 {
    if (status < 400 or status > 599) return error.InvalidStatus;
    const reason = reasonPhrase(status);
    const headers = [_]Header{.{ .name = "content-type", .value = "text/plain" }};
    const head = try writeHead(out, status, &headers, reason.len + 1, .{ .date = date, .connection = .close });
    var w: Writer = .init(out);
    w.len = head;
    try w.put(reason);
    try w.put("\n");
    return w.len;
}

/// One chunk: size line, data, CRLF. Empty data writes nothing: a
/// zero-size chunk would end the body.
pub fn writeChunk(out: []u8, data: []const u8) error{NoSpace}!u32 {
    if (data.len == 0) return 0;
    var w: Writer = .init(out);
    try w.hex(data.len);
    try w.put("\r\n");
    try w.put(data);
    try w.put(chunk_end);
    return w.len;
}

/// The size line of a chunk whose `len` bytes of data the caller sends
/// itself (say with writev), followed by `chunk_end`.
pub fn writeChunkHead(out: []u8, len: u64) error{NoSpace}!u32 {
    assert(len > 0); // A zero-size chunk is the last chunk.
    var w: Writer = .init(out);
    try w.hex(len);
    try w.put("\r\n");
    return w.len;
}

pub fn writeLastChunk(out: []u8) error{NoSpace}!u32 {
    var w: Writer = .init(out);
    try w.put(last_chunk);
    return w.len;
}

/// The reason phrase of RFC 9110 for the registered codes, a generic one
/// by class otherwise (the phrase carries no meaning, RFC 9112 4).
pub fn reasonPhrase(status: u16) []const u8 {
    return switch (status) {
        100 => "Continue",
        101 => "Switching Protocols",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        else => switch (status / 100) {
            1 => "Informational",
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            5 => "Server Error",
            else => "Unknown",
        },
    };
}

/// The `date` field's value, IMF-fixdate (RFC 9110 5.6.7), for one unix
/// second.
pub const Date = struct {
    pub const len = 29;
    /// Year 10000 starts here: the format has four year digits.
    pub const max_seconds: u64 = 253402300800 - 1;

    unix_seconds: u64,
    text: [len]u8,

    pub fn init(unix_seconds: u64) Date {
        var date: Date = .{ .unix_seconds = unix_seconds, .text = undefined };
        date.format();
        return date;
    }

    /// Cheap when the second has not changed (one compare): call it as
    /// often as convenient. Any other second (the clock may step back)
    /// reformats. True when the text changed.
    pub fn update(date: *Date, unix_seconds: u64) bool {
        if (unix_seconds == date.unix_seconds) return false;
        date.unix_seconds = unix_seconds;
        date.format();
        return true;
    }

    fn format(date: *Date) void {
        const seconds = date.unix_seconds;
        assert(seconds <= max_seconds);
        const days = seconds / 86400;
        const of_day: u32 = @intCast(seconds % 86400);
        const civil = civilFromDays(days);
        assert(civil.year <= 9999);
        const weekdays = [7]*const [3]u8{ "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
        const months = [12]*const [3]u8{ "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
        const t = &date.text;
        // 1970-01-01 was a Thursday.
        t[0..3].* = weekdays[@intCast((days + 4) % 7)].*;
        t[3..5].* = ", ".*;
        twoDigits(t[5..7], civil.day);
        t[7] = ' ';
        t[8..11].* = months[civil.month - 1].*;
        t[11] = ' ';
        twoDigits(t[12..14], civil.year / 100);
        twoDigits(t[14..16], civil.year % 100);
        t[16] = ' ';
        twoDigits(t[17..19], of_day / 3600);
        t[19] = ':';
        twoDigits(t[20..22], of_day / 60 % 60);
        t[22] = ':';
        twoDigits(t[23..25], of_day % 60);
        t[25..29].* = " GMT".*;
    }
};

const Civil = struct { year: u32, month: u32, day: u32 };

/// Proleptic Gregorian date of a day count since 1970-01-01, without
/// loops: shift to an era calendar starting 0000-03-01 so leap days fall
/// at the end of a year (H. Hinnant, "chrono-compatible low-level date
/// algorithms").
fn civilFromDays(days: u64) Civil {
    const z = days + 719468;
    const era = z / 146097;
    const day_of_era = z - era * 146097; // [0, 146096]
    const year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365; // [0, 399]
    const day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // [0, 365]
    const shifted_month = (5 * day_of_year + 2) / 153; // [0, 11], March first
    const day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    const month = if (shifted_month < 10) shifted_month + 3 else shifted_month - 9;
    const year = year_of_era + era * 400 + @intFromBool(month <= 2);
    return .{ .year = @intCast(year), .month = @intCast(month), .day = @intCast(day) };
}

fn twoDigits(out: *[2]u8, n: u32) void {
    assert(n < 100);
    out[0] = @intCast('0' + n / 10);
    out[1] = @intCast('0' + n % 10);
}

/// Fields the writer derives from `body_len` and never copies.
fn framingField(name: []const u8) bool {
    return std.ascii.eqlIgnoreCase(name, "content-length") or
        std.ascii.eqlIgnoreCase(name, "transfer-encoding");
}

fn bodyAllowed(status: u16) bool {
    return status >= 200 and status != 204 and status != 304;
}

/// Appends to `out`, failing rather than truncating.
const Writer = struct {
    out: []u8,
    len: u32 = 0,

    fn init(out: []u8) Writer {
        // Response heads are small; offsets are u32.
        return .{ .out = out[0..@min(out.len, maxInt(u32))] };
    }

    fn put(w: *Writer, bytes: []const u8) error{NoSpace}!void {
        assert(w.len <= w.out.len);
        if (w.out.len - w.len < bytes.len) return error.NoSpace;
        @memcpy(w.out[w.len..][0..bytes.len], bytes);
        w.len += @intCast(bytes.len);
    }

    fn decimal(w: *Writer, n: u64) error{NoSpace}!void {
        var digits: [20]u8 = undefined; // maxInt(u64) has 20 digits.
        var i: u32 = digits.len;
        var rest = n;
        while (true) {
            i -= 1;
            digits[i] = @intCast('0' + rest % 10);
            rest /= 10;
            if (rest == 0) break;
        }
        try w.put(digits[i..]);
    }

    fn hex(w: *Writer, n: u64) error{NoSpace}!void {
        var digits: [16]u8 = undefined;
        var i: u32 = digits.len;
        var rest = n;
        while (true) {
            i -= 1;
            digits[i] = "0123456789abcdef"[@intCast(rest % 16)];
            rest /= 16;
            if (rest == 0) break;
        }
        try w.put(digits[i..]);
    }
};
