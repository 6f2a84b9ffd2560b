// TCP and UDP on avx's reactor, with real sockets on loopback.
import assert from "node:assert/strict";
import { AvxError, bindUdp, connect, listen, liveHandles, TcpListener, type TcpStream } from "../mod.ts";
import { delay, nextMessage, openSockets, rejectsWith, spawnWorker, throwsWith } from "./helpers.ts";

const HOST = "127.0.0.1";

async function readAll(conn: TcpStream): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const buf = new Uint8Array(64 * 1024);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    parts.push(buf.slice(0, n));
  }
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function pattern(len: number, seed: number): Uint8Array {
  const a = new Uint8Array(len);
  for (let i = 0; i < len; i++) a[i] = (i * 31 + seed) & 0xff;
  return a;
}

Deno.test("tcp: connect, accept, echo 4 MiB both ways, half-close, addresses", async () => {
  const handles = liveHandles();
  using listener = listen({ hostname: HOST, port: 0 });
  assert.equal(listener.addr.transport, "tcp");
  assert.equal(listener.addr.hostname, HOST);
  assert.ok(listener.addr.port > 0);
  const accepted = listener.accept();
  using client = await connect({ hostname: "localhost", port: listener.addr.port });
  using server = await accepted;
  assert.equal(client.remoteAddr.port, listener.addr.port);
  assert.equal(server.remoteAddr.port, client.localAddr.port);
  client.setNoDelay(true);
  client.setKeepAlive(true);

  const data = pattern(4 << 20, 7);
  const echo = (async () => {
    const buf = new Uint8Array(100_000);
    for (;;) {
      const n = await server.read(buf);
      if (n === null) break;
      await server.writeAll(buf.subarray(0, n));
    }
    await server.closeWrite();
  })();
  const [, back] = await Promise.all([
    client.writeAll(data).then(() => client.closeWrite()),
    readAll(client),
  ]);
  await echo;
  assert.equal(back.length, data.length);
  assert.deepEqual(back, data);
  // End of stream stays end of stream.
  assert.equal(await client.read(new Uint8Array(4)), null);
  client.close();
  server.close();
  listener.close();
  assert.equal(liveHandles(), handles);
});

Deno.test("tcp: readable and writable streams pipe", async () => {
  using listener = listen({ hostname: HOST, port: 0 });
  const serving = (async () => {
    using conn = await listener.accept();
    await conn.readable.pipeTo(conn.writable);
  })();
  using client = await connect({ port: listener.addr.port });
  const text = "streams ".repeat(10_000);
  const writer = client.writable.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  let got = "";
  const decoder = new TextDecoder();
  for await (const chunk of client.readable) got += decoder.decode(chunk, { stream: true });
  assert.equal(got, text);
  await serving;
});

Deno.test("tcp: a connection accepted here is served by a Worker through its handle", async () => {
  using listener = listen({ hostname: HOST, port: 0 });
  const w = spawnWorker("tcp_echo_worker.ts");
  try {
    const accepted = listener.accept();
    using client = await connect({ port: listener.addr.port });
    using conn = await accepted;
    w.postMessage(conn.handle);
    const done = nextMessage(w);
    const data = pattern(300_000, 3);
    const [, back] = await Promise.all([client.writeAll(data).then(() => client.closeWrite()), readAll(client)]);
    assert.deepEqual(back, data);
    assert.equal(await done, "done");
  } finally {
    w.terminate();
  }
});

Deno.test("tcp: OS errors are named: EADDRINUSE, ECONNREFUSED, ECONNRESET", async () => {
  using listener = listen({ hostname: HOST, port: 0 });
  const port = listener.addr.port;
  throwsWith(() => listen({ hostname: HOST, port }), "EADDRINUSE");
  // Reset: a raw Deno socket closes with unread data.
  const accepted = listener.accept();
  const raw = await Deno.connect({ hostname: HOST, port });
  using server = await accepted;
  await server.write(new Uint8Array(10)); // unread by raw: its close sends RST
  await delay(20);
  raw.close();
  await delay(20);
  // The kernel answers a close with unread data by a reset; whichever
  // call meets it first fails with the OS's name for it.
  let code: string | undefined;
  try {
    await server.read(new Uint8Array(8));
    for (let i = 0; i < 4; i++) await server.writeAll(new Uint8Array(1 << 20));
  } catch (e) {
    assert.ok(e instanceof AvxError);
    code = e.code;
    assert.match(e.message, new RegExp(code));
  }
  assert.ok(code === "ECONNRESET" || code === "EPIPE", `got ${code}`);
  listener.close();
  await rejectsWith(connect({ hostname: HOST, port }), "ECONNREFUSED");
});

Deno.test("tcp: close rejects pending reads and accepts with CLOSED; iteration ends", async () => {
  const listener = listen({ hostname: HOST, port: 0 });
  const pendingAccept = listener.accept();
  const iterated = (async () => {
    const conns: TcpStream[] = [];
    using other = TcpListener.from(listener.handle);
    for await (const c of other) conns.push(c);
    for (const c of conns) c.close();
    return conns.length;
  })();
  using client = await connect({ port: listener.addr.port });
  const server = await Promise.race([pendingAccept, delay(2000).then(() => undefined)]);
  const read = client.read(new Uint8Array(8));
  client.close();
  await rejectsWith(read, "CLOSED");
  await rejectsWith(client.read(new Uint8Array(8)), "CLOSED");
  listener.close();
  assert.ok((await iterated) <= 1);
  server?.close();
});

Deno.test("tcp: abort signals cancel accept and connect's wait, and data is not lost", async () => {
  using listener = listen({ hostname: HOST, port: 0 });
  const ac = new AbortController();
  const p = listener.accept({ signal: ac.signal });
  ac.abort();
  await rejectsWith(p, "ABORTED");
  const accepted = listener.accept();
  using client = await connect({ port: listener.addr.port });
  using server = await accepted;
  // A read aborted while waiting; the bytes sent after it still arrive.
  const ac2 = new AbortController();
  const r = server.read(new Uint8Array(8), { signal: ac2.signal });
  ac2.abort();
  await rejectsWith(r, "ABORTED");
  await client.write(new Uint8Array([9, 8, 7]));
  const buf = new Uint8Array(8);
  let got = 0;
  while (got < 3) got += (await server.read(buf.subarray(got))) ?? 0;
  assert.deepEqual([...buf.subarray(0, 3)], [9, 8, 7]);
  await rejectsWith(server.read(new Uint8Array(8), { timeout: 10 }), "TIMEOUT");
});

Deno.test("tcp: bad input is a clear error", async () => {
  throwsWith(() => listen({ hostname: "example.com" }), "INVALID_ARGUMENT");
  throwsWith(() => listen({ port: 70000 }), "INVALID_ARGUMENT");
  throwsWith(() => listen({ port: -1 }), "INVALID_ARGUMENT");
  throwsWith(() => listen({ port: 1.5 }), "INVALID_ARGUMENT");
  throwsWith(() => listen({ backlog: 0 }), "INVALID_ARGUMENT");
  throwsWith(() => listen({ hostname: "" }), "INVALID_ARGUMENT");
  await rejectsWith(connect({ port: 0 }), "INVALID_ARGUMENT");
  await rejectsWith(connect({ hostname: "999.1.1.1", port: 80 }), "INVALID_ARGUMENT");
  throwsWith(() => TcpListener.from(12345), "INVALID_HANDLE");
  using u = bindUdp({ hostname: HOST });
  throwsWith(() => TcpListener.from(u.handle), "WRONG_KIND");
  const l = listen({ hostname: HOST });
  l.close();
  throwsWith(() => l.addr, "CLOSED");
  await rejectsWith(l.accept(), "CLOSED");
});

/** 200 clients at once, each echoed by its own server connection. */
async function echoRound(clients: number): Promise<void> {
  using listener = listen({ hostname: HOST, port: 0 });
  const serving = (async () => {
    const conns: Promise<void>[] = [];
    for (let i = 0; i < clients; i++) {
      const conn = await listener.accept();
      conns.push((async () => {
        using c = conn;
        const buf = new Uint8Array(1024);
        for (;;) {
          const n = await c.read(buf);
          if (n === null) break;
          await c.writeAll(buf.subarray(0, n));
        }
      })());
    }
    await Promise.all(conns);
  })();
  await Promise.all(Array.from({ length: clients }, async (_, i) => {
    using c = await connect({ port: listener.addr.port });
    const msg = pattern(1000 + i, i);
    await c.writeAll(msg);
    await c.closeWrite();
    assert.deepEqual(await readAll(c), msg);
  }));
  await serving;
}

Deno.test("tcp: 200 clients at once, each echoed; descriptors and handles return to their count", async () => {
  await echoRound(200);
  // Earlier tests' sockets may still be closing (GC, Workers): settle.
  let fds = await openSockets();
  for (let i = 0; i < 50; i++) {
    await delay(20);
    const now = await openSockets();
    if (now === fds) break;
    fds = now;
  }
  const handles = liveHandles();
  for (let round = 0; round < 3; round++) await echoRound(200);
  // Registered sockets are closed by the I/O thread: give it a moment.
  for (let i = 0; i < 100 && (await openSockets()) > fds; i++) await delay(10);
  const after = await openSockets();
  assert.equal(after, fds, `${after - fds} socket descriptor(s) leaked`);
  assert.equal(liveHandles(), handles);
});

Deno.test("udp: datagrams keep boundaries and senders; iteration ends at close", async () => {
  using a = bindUdp({ hostname: HOST });
  using b = bindUdp({ hostname: HOST });
  assert.equal(a.addr.transport, "udp");
  const got: string[] = [];
  const reading = (async () => {
    for await (const [data, from] of a) {
      assert.equal(from.port, b.addr.port);
      got.push(new TextDecoder().decode(data));
      if (got.length === 3) break;
    }
  })();
  for (const m of ["one", "two", "three"]) assert.equal(await b.send(new TextEncoder().encode(m), a.addr), m.length);
  await reading;
  assert.deepEqual(got, ["one", "two", "three"]);
  // A small buffer truncates; an empty datagram arrives as empty.
  await b.send(new Uint8Array(100), a.addr);
  const [small] = await a.recv(new Uint8Array(10));
  assert.equal(small.length, 10);
  await b.send(new Uint8Array(0), a.addr);
  const [empty] = await a.recv();
  assert.equal(empty.length, 0);
  await rejectsWith(b.send(new Uint8Array(70_000), a.addr), "TOO_LARGE");
  const pending = a.recv();
  a.close();
  await rejectsWith(pending, "CLOSED");
});

Deno.test("udp: a receive that waits after an earlier waited one does not spin; two receives at once both get one", async () => {
  using a = bindUdp({ hostname: HOST });
  using b = bindUdp({ hostname: HOST });
  const enc = new TextEncoder();
  // The first receive waits for its datagram (the I/O driver delivers it).
  const first = a.recv();
  await b.send(enc.encode("1"), a.addr);
  assert.equal(new TextDecoder().decode((await first)[0]), "1");
  // The second waits too: this isolate's timers must run meanwhile (a busy
  // loop of "ready, would block" froze the event loop here).
  const second = a.recv();
  let ticked = false;
  await new Promise<void>((r) =>
    setTimeout(() => {
      ticked = true;
      r();
    }, 20)
  );
  assert.equal(ticked, true);
  await b.send(enc.encode("2"), a.addr);
  assert.equal(new TextDecoder().decode((await second)[0]), "2");
  // Two receives pending at once: each gets one datagram.
  const both = Promise.all([a.recv(), a.recv()]);
  await new Promise((r) => setTimeout(r, 10));
  await b.send(enc.encode("x"), a.addr);
  await b.send(enc.encode("y"), a.addr);
  const got = (await both).map(([d]) => new TextDecoder().decode(d)).sort();
  assert.deepEqual(got, ["x", "y"]);
});

Deno.test("net: without --allow-net, listening is PERMISSION_DENIED", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-ffi", "--allow-env", "--allow-read", new URL("./net/no_net.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.equal(new TextDecoder().decode(out.stdout).trim(), "PERMISSION_DENIED");
});

Deno.test("errors: OS error statuses map to their names", () => {
  assert.equal(AvxError.fromStatus(-102, "x").code, "ECONNRESET");
  assert.equal(AvxError.fromStatus(-105, "x").code, "EADDRINUSE");
  assert.equal(AvxError.fromStatus(-130, "x").code, "EIO");
  assert.equal(AvxError.fromStatus(-131, "x").code, "INVALID_STATE");
});
