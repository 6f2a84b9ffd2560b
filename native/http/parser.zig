//! HTTP/1.1 request parsing for the server side (RFC 9110, RFC 9112), over
//! the bytes a connection has buffered. No I/O, no allocation, no state
//! between calls: the connection reads into its buffer and calls `parse`
//! again on everything it holds, from the request boundary.
//!
//! Results: `.incomplete` (read more, call again), `.complete` with the
//! bytes the request took on the wire (a pipelined request follows them),
//! or `.reject` with the status to answer before closing the connection
//! (the parser never resynchronises after a reject).
//!
//! Cost of a call, and why calling again is cheap: the head is scanned once
//! (O(head), at most `max_head` bytes, the CRLF/control byte searches 16
//! bytes at a time); a Content-Length body is never scanned, only its
//! length compared with the bytes held; a chunked body costs O(its framing)
//! (size lines, extensions, trailers: at most `max_framing` bytes) because
//! chunk data is skipped by length. The worst case of one call is therefore
//! O(max_head + max_framing) plus, once, the O(body) in-place decoding of a
//! complete chunked body; a request trickling in one byte per read costs
//! that per read. After `.incomplete` with `out.head_len != 0` the head is
//! known, so a connection may wait for `head_len + content_length` bytes
//! before calling again, and answer `Expect: 100-continue`.
//!
//! Every decision depends only on bytes already seen, in order, and limits
//! are enforced with windows that do not depend on how much arrived: so
//! any prefix of a request yields `.incomplete` or the same result as the
//! whole (the tests feed every split point).
//!
//! Strictness (request smuggling and header injection): CRLF line ends only,
//! no obs-fold, no whitespace before a colon, no control bytes in the
//! target or field values, Content-Length digits only (equal duplicates
//! allowed), never both Content-Length and Transfer-Encoding, no
//! Transfer-Encoding in HTTP/1.0, `chunked` as the only transfer coding,
//! exactly one Host in HTTP/1.1 (at most one in 1.0).
const std = @import("std");
const assert = std.debug.assert;
const maxInt = std.math.maxInt;

/// Capacity of `Request.headers`; `Limits.max_headers` may only lower it.
pub const header_capacity: u32 = 64;

/// A field line, as slices into the parsed buffer (the value without its
/// surrounding whitespace). Also the response writer's header type.
pub const Header = struct {
    name: []const u8,
    value: []const u8,
};

pub const Limits = struct {
    /// Bytes of request line and header fields, final CRLF included (431).
    max_head: u32 = 8192,
    /// Header fields per request (431); at most `header_capacity`.
    max_headers: u32 = header_capacity,
    /// Bytes of the request target (414).
    max_target: u32 = 4096,
    /// Bytes of body after chunked decoding (413).
    max_body: u32 = 1 << 20,
    /// Bytes of chunked framing in one body: chunk-size lines with their
    /// extensions, the CRLF after each chunk's data, the last chunk and the
    /// trailer section (413). Bounds the work of a call, and with the other
    /// limits the buffer a connection needs: see `maxRequest`.
    max_framing: u32 = 64 * 1024,

    /// No request that is not rejected needs more bytes than this: a
    /// connection buffer of this size never fills with `.incomplete`.
    pub fn maxRequest(limits: Limits) u32 {
        limits.assertValid();
        return limits.max_head + limits.max_body + limits.max_framing;
    }

    fn assertValid(limits: Limits) void {
        // The shortest request line, "M / HTTP/1.1\r\n", with the blank line.
        assert(limits.max_head >= 16);
        assert(limits.max_headers <= header_capacity);
        assert(limits.max_target >= 1);
        // Offsets and `consumed` are u32.
        assert(@as(u64, limits.max_head) + limits.max_body + limits.max_framing <= maxInt(u32));
    }
};

/// The statuses of a rejected request.
pub const Status = enum(u16) {
    bad_request = 400,
    content_too_large = 413,
    uri_too_long = 414,
    header_fields_too_large = 431,
    not_implemented = 501,
    version_not_supported = 505,
};

/// The methods of RFC 9110 and PATCH; any other token is `.other` (method
/// names are case-sensitive, so "get" is `.other`).
pub const Method = enum(u8) { get, head, post, put, delete, connect, options, trace, patch, other };

pub const Complete = struct {
    /// Wire bytes of the request, body framing included: the next request
    /// (if pipelined) starts at `buf[consumed]`.
    consumed: u32,
};

pub const Result = union(enum) {
    incomplete,
    complete: Complete,
    reject: Status,
};

/// A parsed request. Its slices point into the buffer given to `parse`.
/// Valid after `.complete`; after `.incomplete` with `head_len != 0` every
/// field except `body` is valid; otherwise unspecified.
pub const Request = struct {
    /// 0 until the head (request line and fields) is complete, then its
    /// length in bytes (leading empty lines included); the body starts here.
    head_len: u32 = 0,
    method: []const u8 = "",
    method_id: Method = .other,
    /// Request target as sent (origin-form path and query, or `*`, or the
    /// absolute/authority forms): never empty, no spaces or controls.
    target: []const u8 = "",
    /// HTTP/1.0 or HTTP/1.1 (1.x with x > 1 is read as 1.1, RFC 9110 2.5).
    version_minor: u1 = 1,
    header_count: u32 = 0,
    headers: [header_capacity]Header = undefined,
    /// The Content-Length field; 0 when absent or chunked.
    content_length: u32 = 0,
    chunked: bool = false,
    /// The connection may carry another request after this one.
    keep_alive: bool = false,
    /// HTTP/1.1 `Expect: 100-continue`.
    expect_continue: bool = false,
    /// The body: a Content-Length body as received, a chunked one decoded
    /// (in place, see `parse`). Empty (inside the buffer) when none.
    body: []const u8 = "",

    pub fn headerList(request: *const Request) []const Header {
        assert(request.header_count <= header_capacity);
        return request.headers[0..request.header_count];
    }

    /// The value of the first field named `name` (ASCII case-insensitive).
    pub fn header(request: *const Request, name: []const u8) ?[]const u8 {
        for (request.headerList()) |h| {
            if (std.ascii.eqlIgnoreCase(h.name, name)) return h.value;
        }
        return null;
    }
};

/// Parse the request at the start of `buf`, filling `out` (see `Request`
/// for what is valid when).
///
/// Mutation: when a chunked request completes, its body is decoded in
/// place: `out.body` is `buf[head_len..][0..body.len]`, and the bytes from
/// there up to `consumed` (former framing) are garbage. Nothing before the
/// body or from `consumed` on is touched, and nothing is written unless
/// the result is `.complete`; do not parse a completed chunked request's
/// bytes again.
pub fn parse(buf: []u8, limits: Limits, out: *Request) Result {
    limits.assertValid();
    assert(buf.len <= maxInt(u32));
    const len: u32 = @intCast(buf.len);
    out.head_len = 0;
    const head = Window.init(len, 0, limits.max_head);

    var pos: u32 = switch (requestLine(buf, head.end, limits, out)) {
        .more => return head.exhausted(.header_fields_too_large),
        .reject => |status| return .{ .reject = status },
        .next => |next| next,
    };
    assert(pos <= head.end);

    var fields: Fields = .{};
    out.header_count = 0;
    // One line per round: a field, or the blank line that ends the head.
    // The round after `max_headers` fields either ends the head or rejects.
    var round: u32 = 0;
    const head_len: u32 = while (round <= limits.max_headers) : (round += 1) {
        switch (fieldLine(buf, pos, head.end)) {
            .more => return head.exhausted(.header_fields_too_large),
            .bad => return .{ .reject = .bad_request },
            .blank => |next| break next,
            .field => |f| {
                if (out.header_count == limits.max_headers) return .{ .reject = .header_fields_too_large };
                const h: Header = .{ .name = buf[pos..f.name_end], .value = buf[f.value_start..f.value_end] };
                out.headers[out.header_count] = h;
                out.header_count += 1;
                if (fields.note(h)) |status| return .{ .reject = status };
                pos = f.next;
            },
        }
    } else unreachable;
    assert(head_len <= limits.max_head);
    assert(out.header_count <= limits.max_headers);

    return body(buf, head_len, limits, &fields, out);
}

/// After the head: connection semantics, framing, and the body.
fn body(buf: []u8, head_len: u32, limits: Limits, fields: *const Fields, out: *Request) Result {
    const len: u32 = @intCast(buf.len);
    assert(head_len <= len);
    const minor = out.version_minor;
    // RFC 9112 3.2: a 1.1 request has exactly one Host; several are a
    // routing (and cache poisoning) ambiguity in any version.
    if (fields.host > 1 or (minor == 1 and fields.host == 0)) return .{ .reject = .bad_request };

    out.keep_alive = if (fields.close) false else if (minor == 1) true else fields.keep_alive;
    out.expect_continue = minor == 1 and fields.expect_continue;
    out.content_length = 0;
    out.chunked = false;

    if (fields.transfer_encoding) {
        // RFC 9112 6.1 and 6.3: both framings, or Transfer-Encoding in
        // HTTP/1.0, is the classic request smuggling setup: refuse.
        if (minor == 0 or fields.content_length != null) return .{ .reject = .bad_request };
        if (fields.te_unsupported) return .{ .reject = .not_implemented };
        // No coding at all, or chunked applied twice.
        if (fields.te_chunked != 1) return .{ .reject = .bad_request };
        out.chunked = true;
        out.head_len = head_len;
        return chunked(buf, head_len, limits, out);
    }

    out.head_len = head_len;
    if (fields.content_length) |n| {
        if (n > limits.max_body) return .{ .reject = .content_too_large };
        const length: u32 = @intCast(n);
        out.content_length = length;
        if (len - head_len < length) return .incomplete;
        out.body = buf[head_len..][0..length];
        return .{ .complete = .{ .consumed = head_len + length } };
    }
    // Without framing fields a request has no body (RFC 9112 6.3).
    out.body = buf[head_len..head_len];
    return .{ .complete = .{ .consumed = head_len } };
}

/// Where a scan may look: `[start, end)`. `capped` when `end` comes from a
/// limit rather than from the bytes held: running out of a capped window
/// means the request breaks that limit whatever bytes come next; running
/// out of an uncapped one means more bytes are needed. This is what makes
/// a prefix's verdict agree with the whole request's.
const Window = struct {
    end: u32,
    capped: bool,

    fn init(len: u32, start: u32, budget: u32) Window {
        assert(start <= len);
        if (len - start >= budget) return .{ .end = start + budget, .capped = true };
        return .{ .end = len, .capped = false };
    }

    fn exhausted(window: Window, limit: Status) Result {
        return if (window.capped) .{ .reject = limit } else .incomplete;
    }
};

/// The outcome of one line: `more` when the window ended first.
const Step = union(enum) {
    more,
    reject: Status,
    next: u32,
};

/// `method SP target SP HTTP/d.d CRLF`, after optional empty lines (RFC
/// 9112 2.2 asks servers to ignore them: some clients send a CRLF after a
/// POST body).
fn requestLine(buf: []const u8, end: u32, limits: Limits, out: *Request) Step {
    assert(end <= buf.len);
    var pos: u32 = 0;
    // Bounded by the window: each round moves two bytes.
    while (pos < end and buf[pos] == '\r') {
        if (pos + 1 == end) return .more;
        if (buf[pos + 1] != '\n') return .{ .reject = .bad_request };
        pos += 2;
    }

    const method_start = pos;
    while (pos < end and token_bytes[buf[pos]]) pos += 1;
    if (pos == end) return .more;
    if (pos == method_start or buf[pos] != ' ') return .{ .reject = .bad_request };
    out.method = buf[method_start..pos];
    out.method_id = methodId(out.method);

    // Scan at most one byte past the longest target allowed, so a long
    // target is a 414 before the head limit (and its length the same
    // verdict for every prefix that holds it).
    const target_start = pos + 1;
    const scan_end: u32 = @intCast(@min(@as(u64, end), @as(u64, target_start) + limits.max_target + 1));
    const stop = targetStop(buf, target_start, scan_end);
    if (stop == scan_end) {
        if (scan_end - target_start > limits.max_target) return .{ .reject = .uri_too_long };
        return .more;
    }
    if (stop == target_start or buf[stop] != ' ') return .{ .reject = .bad_request };
    out.target = buf[target_start..stop];

    const v = stop + 1;
    if (end - v < 10) return .more;
    const version = buf[v..][0..10];
    if (!std.mem.eql(u8, version[0..5], "HTTP/") or !isDigit(version[5]) or
        version[6] != '.' or !isDigit(version[7])) return .{ .reject = .bad_request };
    if (version[8] != '\r' or version[9] != '\n') return .{ .reject = .bad_request };
    if (version[5] != '1') return .{ .reject = .version_not_supported };
    out.version_minor = if (version[7] == '0') 0 else 1;
    return .{ .next = v + 10 };
}

/// A field line: the name starts at the line's start.
const Field = struct {
    name_end: u32,
    value_start: u32,
    value_end: u32,
    /// The start of the next line.
    next: u32,
};

const FieldLine = union(enum) {
    more,
    bad,
    /// The empty line ending a section; the offset after it.
    blank: u32,
    field: Field,
};

/// `token ":" OWS value OWS CRLF`, or the empty line. Shared by the head
/// and the chunked trailer section.
fn fieldLine(buf: []const u8, pos: u32, end: u32) FieldLine {
    assert(pos <= end);
    assert(end <= buf.len);
    if (pos == end) return .more;
    if (buf[pos] == '\r') {
        if (pos + 1 == end) return .more;
        return if (buf[pos + 1] == '\n') .{ .blank = pos + 2 } else .bad;
    }
    // Not a token byte: a bare LF, an obs-fold (SP or HTAB), an empty name.
    if (!token_bytes[buf[pos]]) return .bad;

    var i = pos + 1;
    while (i < end and token_bytes[buf[i]]) i += 1;
    if (i == end) return .more;
    // Whitespace between name and colon is a smuggling vector (RFC 9112 5.1).
    if (buf[i] != ':') return .bad;
    const name_end = i;
    i += 1;
    while (i < end and (buf[i] == ' ' or buf[i] == '\t')) i += 1;
    if (i == end) return .more;

    const value_start = i;
    const stop = valueStop(buf, value_start, end);
    if (stop == end) return .more;
    // A well formed value stops at its CR; anything else is a bare LF or
    // a control byte.
    if (buf[stop] != '\r') return .bad;
    if (stop + 1 == end) return .more;
    if (buf[stop + 1] != '\n') return .bad;

    var value_end = stop;
    while (value_end > value_start and (buf[value_end - 1] == ' ' or buf[value_end - 1] == '\t')) value_end -= 1;
    return .{ .field = .{ .name_end = name_end, .value_start = value_start, .value_end = value_end, .next = stop + 2 } };
}

/// What the head's fields say about framing and the connection.
const Fields = struct {
    host: u32 = 0,
    content_length: ?u64 = null,
    transfer_encoding: bool = false,
    /// `chunked` codings seen over every Transfer-Encoding field.
    te_chunked: u32 = 0,
    te_unsupported: bool = false,
    close: bool = false,
    keep_alive: bool = false,
    expect_continue: bool = false,

    /// Note one field; a status when it is malformed on its own.
    fn note(fields: *Fields, h: Header) ?Status {
        // The length picks the one name to compare, so most fields cost
        // one switch.
        switch (h.name.len) {
            4 => if (std.ascii.eqlIgnoreCase(h.name, "host")) {
                fields.host += 1;
            },
            6 => if (std.ascii.eqlIgnoreCase(h.name, "expect")) {
                if (std.ascii.eqlIgnoreCase(h.value, "100-continue")) fields.expect_continue = true;
            },
            10 => if (std.ascii.eqlIgnoreCase(h.name, "connection")) fields.connection(h.value),
            14 => if (std.ascii.eqlIgnoreCase(h.name, "content-length")) return fields.contentLength(h.value),
            17 => if (std.ascii.eqlIgnoreCase(h.name, "transfer-encoding")) fields.transferEncoding(h.value),
            else => {},
        }
        return null;
    }

    fn connection(fields: *Fields, value: []const u8) void {
        var it: List = .{ .list = value };
        while (it.next()) |option| {
            if (std.ascii.eqlIgnoreCase(option, "close")) fields.close = true;
            if (std.ascii.eqlIgnoreCase(option, "keep-alive")) fields.keep_alive = true;
        }
    }

    /// `1*DIGIT`: no sign, no list (even of equal values), no overflow.
    /// Repeated fields must agree.
    fn contentLength(fields: *Fields, value: []const u8) ?Status {
        if (value.len == 0) return .bad_request;
        var n: u64 = 0;
        for (value) |c| {
            if (!isDigit(c)) return .bad_request;
            const times_ten = @mulWithOverflow(n, 10);
            if (times_ten[1] != 0) return .bad_request;
            const plus = @addWithOverflow(times_ten[0], c - '0');
            if (plus[1] != 0) return .bad_request;
            n = plus[0];
        }
        if (fields.content_length) |previous| {
            if (previous != n) return .bad_request;
        }
        fields.content_length = n;
        return null;
    }

    /// Codings are collected over every field (they form one list); the
    /// verdict waits for the end of the head.
    fn transferEncoding(fields: *Fields, value: []const u8) void {
        fields.transfer_encoding = true;
        var it: List = .{ .list = value };
        while (it.next()) |coding| {
            if (std.ascii.eqlIgnoreCase(coding, "chunked")) {
                fields.te_chunked += 1;
            } else {
                // gzip, deflate, chunked with parameters, anything.
                fields.te_unsupported = true;
            }
        }
    }
};

/// The non-empty elements of a comma-separated field value, trimmed of
/// optional whitespace (RFC 9110 5.6.1).
const List = struct {
    list: []const u8,
    pos: u32 = 0,

    fn next(it: *List) ?[]const u8 {
        assert(it.pos <= it.list.len);
        // Each round consumes at least one byte.
        while (it.pos < it.list.len) {
            const start = it.pos;
            const comma = std.mem.indexOfScalarPos(u8, it.list, start, ',') orelse it.list.len;
            it.pos = @intCast(@min(comma + 1, it.list.len));
            const element = std.mem.trim(u8, it.list[start..comma], " \t");
            if (element.len > 0) return element;
        }
        return null;
    }
};

const ChunkLine = union(enum) {
    more,
    reject: Status,
    line: struct { size: u32, next: u32 },
};

/// `1*HEXDIG [ BWS ";" ext ] CRLF`. Extensions are skipped (their bytes
/// must be field-value bytes, so a line still ends only at CRLF). A size
/// above `data_left` is a 413 at the digit that makes it so, which is also
/// the overflow check.
fn chunkSizeLine(buf: []const u8, pos: u32, end: u32, data_left: u32) ChunkLine {
    assert(pos <= end);
    assert(end <= buf.len);
    var i = pos;
    var size: u64 = 0;
    while (i < end) : (i += 1) {
        const digit = hexValue(buf[i]) orelse break;
        size = size * 16 + digit;
        if (size > data_left) return .{ .reject = .content_too_large };
    }
    if (i == end) return .more;
    if (i == pos) return .{ .reject = .bad_request };

    if (buf[i] == ';' or buf[i] == ' ' or buf[i] == '\t') {
        while (i < end and (buf[i] == ' ' or buf[i] == '\t')) i += 1;
        if (i == end) return .more;
        if (buf[i] != ';') return .{ .reject = .bad_request };
        i = valueStop(buf, i + 1, end);
        if (i == end) return .more;
    }
    if (buf[i] != '\r') return .{ .reject = .bad_request };
    if (i + 1 == end) return .more;
    if (buf[i + 1] != '\n') return .{ .reject = .bad_request };
    return .{ .line = .{ .size = @intCast(size), .next = i + 2 } };
}

const Walk = union(enum) {
    incomplete,
    reject: Status,
    done: struct { end: u32, body_len: u32 },
};

/// A chunked body starting at `start`: validate it without writing, and
/// only when all of it is here walk it again, moving each chunk's data
/// down to follow the previous one. Two passes because nothing may be
/// written on `.incomplete` (the next call re-parses the same bytes).
fn chunked(buf: []u8, start: u32, limits: Limits, out: *Request) Result {
    const walk = walkChunks(buf, start, limits, false);
    switch (walk) {
        .incomplete => return .incomplete,
        .reject => |status| return .{ .reject = status },
        .done => |done| {
            const decoded = walkChunks(buf, start, limits, true);
            assert(decoded == .done);
            assert(decoded.done.end == done.end and decoded.done.body_len == done.body_len);
            out.body = buf[start..][0..done.body_len];
            return .{ .complete = .{ .consumed = done.end } };
        },
    }
}

fn walkChunks(buf: []u8, start: u32, limits: Limits, comptime decode: bool) Walk {
    const len: u32 = @intCast(buf.len);
    assert(start <= len);
    var pos = start;
    var data: u32 = 0;
    var framing: u32 = 0;
    var write = start;

    // Every chunk but the last costs at least 5 framing bytes ("1\r\n",
    // "\r\n"), so the framing budget bounds the rounds.
    const max_chunks = limits.max_framing / 5 + 1;
    var chunks: u32 = 0;
    while (true) : (chunks += 1) {
        assert(chunks <= max_chunks);
        const window = Window.init(len, pos, limits.max_framing - framing);
        const line = switch (chunkSizeLine(buf, pos, window.end, limits.max_body - data)) {
            .more => return if (window.capped) .{ .reject = .content_too_large } else .incomplete,
            .reject => |status| return .{ .reject = status },
            .line => |line| line,
        };
        framing += line.next - pos;
        pos = line.next;
        if (line.size == 0) break;

        if (limits.max_framing - framing < 2) return .{ .reject = .content_too_large };
        if (len - pos < line.size) return .incomplete;
        if (decode) {
            assert(write < pos);
            std.mem.copyForwards(u8, buf[write..][0..line.size], buf[pos..][0..line.size]);
            write += line.size;
        }
        pos += line.size;
        data += line.size;
        if (pos == len) return .incomplete;
        if (buf[pos] != '\r') return .{ .reject = .bad_request };
        if (pos + 1 == len) return .incomplete;
        if (buf[pos + 1] != '\n') return .{ .reject = .bad_request };
        pos += 2;
        framing += 2;
    }
    assert(data <= limits.max_body);
    assert(framing <= limits.max_framing);

    // Trailer fields are validated like header fields and dropped. Each
    // line is at least 3 bytes ("a:\r\n" is 4), so the budget bounds this.
    const max_trailers = limits.max_framing / 3 + 1;
    var trailers: u32 = 0;
    while (true) : (trailers += 1) {
        assert(trailers <= max_trailers);
        const window = Window.init(len, pos, limits.max_framing - framing);
        switch (fieldLine(buf, pos, window.end)) {
            .more => return if (window.capped) .{ .reject = .content_too_large } else .incomplete,
            .bad => return .{ .reject = .bad_request },
            .blank => |next| {
                framing += next - pos;
                pos = next;
                break;
            },
            .field => |f| {
                framing += f.next - pos;
                pos = f.next;
            },
        }
    }
    assert(framing <= limits.max_framing);
    assert(!decode or write == start + data);
    return .{ .done = .{ .end = pos, .body_len = data } };
}

/// A field name as the parser accepts it: a non-empty token.
pub fn validFieldName(name: []const u8) bool {
    if (name.len == 0) return false;
    for (name) |c| {
        if (!token_bytes[c]) return false;
    }
    return true;
}

/// A field value as the parser accepts it: no CR, LF or other control byte
/// (HTAB aside), so it cannot end its line or start another.
pub fn validFieldValue(value: []const u8) bool {
    for (value) |c| {
        if (!value_bytes[c]) return false;
    }
    return true;
}

fn methodId(method: []const u8) Method {
    const eql = std.mem.eql;
    return switch (method.len) {
        3 => if (eql(u8, method, "GET")) .get else if (eql(u8, method, "PUT")) .put else .other,
        4 => if (eql(u8, method, "POST")) .post else if (eql(u8, method, "HEAD")) .head else .other,
        5 => if (eql(u8, method, "PATCH")) .patch else if (eql(u8, method, "TRACE")) .trace else .other,
        6 => if (eql(u8, method, "DELETE")) .delete else .other,
        7 => if (eql(u8, method, "OPTIONS")) .options else if (eql(u8, method, "CONNECT")) .connect else .other,
        else => .other,
    };
}

const vector_len = 16;
const Vector = @Vector(vector_len, u8);

fn splat(byte: u8) Vector {
    return @splat(byte);
}

/// The first offset in `[start, end)` of a byte a field value may not hold
/// (a control byte other than HTAB, or DEL), or `end`. A good line stops
/// at its CR; the search doubles as validation.
fn valueStop(buf: []const u8, start: u32, end: u32) u32 {
    assert(start <= end);
    assert(end <= buf.len);
    var i = start;
    while (end - i >= vector_len) : (i += vector_len) {
        const v: Vector = buf[i..][0..vector_len].*;
        const control = (v < splat(0x20)) & (v != splat('\t'));
        if (std.simd.firstTrue(control | (v == splat(0x7f)))) |k| return i + k;
    }
    while (i < end) : (i += 1) {
        if (!value_bytes[buf[i]]) return i;
    }
    return end;
}

/// The first offset in `[start, end)` of a byte a target may not hold (a
/// space, a control byte or DEL), or `end`. A good target stops at the SP
/// before the version.
fn targetStop(buf: []const u8, start: u32, end: u32) u32 {
    assert(start <= end);
    assert(end <= buf.len);
    var i = start;
    while (end - i >= vector_len) : (i += vector_len) {
        const v: Vector = buf[i..][0..vector_len].*;
        if (std.simd.firstTrue((v <= splat(' ')) | (v == splat(0x7f)))) |k| return i + k;
    }
    while (i < end) : (i += 1) {
        if (!target_bytes[buf[i]]) return i;
    }
    return end;
}

fn isDigit(c: u8) bool {
    return c >= '0' and c <= '9';
}

fn hexValue(c: u8) ?u8 {
    return switch (c) {
        '0'...'9' => c - '0',
        'a'...'f' => c - 'a' + 10,
        'A'...'F' => c - 'A' + 10,
        else => null,
    };
}

/// tchar (RFC 9110 5.6.2): method and field-name bytes.
const token_bytes: [256]bool = table: {
    var t: [256]bool = @splat(false);
    for ("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") |c| t[c] = true;
    break :table t;
};

/// field-vchar, SP and HTAB (obs-text included, as RFC 9110 5.5 allows).
const value_bytes: [256]bool = table: {
    var t: [256]bool = @splat(false);
    for (0..256) |c| t[c] = c == '\t' or (c >= 0x20 and c != 0x7f);
    break :table t;
};

/// Visible bytes: the target's URI syntax is the application's to check,
/// but no space (it ends the target) and no control byte gets through.
/// Bytes >= 0x80 pass, as in most servers, for raw UTF-8 paths.
const target_bytes: [256]bool = table: {
    var t: [256]bool = @splat(false);
    for (0..256) |c| t[c] = c > 0x20 and c != 0x7f;
    break :table t;
};

comptime {
    // The vector searches and the tables must agree.
    for (0..256) |c| {
        assert(value_bytes[c] == !((c < 0x20 and c != '\t') or c == 0x7f));
        assert(target_bytes[c] == !(c <= ' ' or c == 0x7f));
        if (token_bytes[c]) assert(value_bytes[c] and target_bytes[c]);
    }
}
