// Run by tests/serve_test.ts in its own process (each process has its own
// descriptor limit): open N connections to the server, make one request on
// each, keep them idle until stdin says "close", then close them all.
const [host, portText, countText] = Deno.args;
const port = Number(portText);
const count = Number(countText);
const request = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
const conns: Deno.TcpConn[] = [];
const buf = new Uint8Array(1024);
// Open in waves so the listener's backlog is never the limit.
for (let i = 0; i < count; i += 500) {
  const wave = await Promise.all(
    Array.from({ length: Math.min(500, count - i) }, async () => {
      const c = await Deno.connect({ hostname: host, port });
      await c.write(request);
      const n = await c.read(buf);
      if (n === null || !new TextDecoder().decode(buf.subarray(0, n)).endsWith("Hello, World!")) {
        throw new Error("bad response");
      }
      return c;
    }),
  );
  conns.push(...wave);
}
console.log(`open ${conns.length}`);
const reader = Deno.stdin.readable.getReader();
await reader.read();
for (const c of conns) c.close();
console.log("closed");
