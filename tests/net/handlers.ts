// Handler modules of tests/serve_test.ts, run in the server's workers.
import type { HttpReply, HttpRequest, TcpStream } from "../../mod.ts";

export default function hello(): HttpReply {
  return "Hello, World!";
}

export function echo(req: HttpRequest): HttpReply {
  return {
    status: 200,
    headers: { "content-type": req.headers.get("content-type") ?? "application/octet-stream", "x-method": req.method },
    body: req.body,
  };
}

export async function slow(req: HttpRequest): Promise<HttpReply> {
  await new Promise((r) => setTimeout(r, Number(new URL(req.path, "http://x").searchParams.get("ms") ?? "10")));
  return `slept ${req.path}`;
}

export function routes(req: HttpRequest): HttpReply | Response {
  switch (req.pathname) {
    case "/json":
      return { headers: [["content-type", "application/json"]], body: JSON.stringify({ path: req.path }) };
    case "/response":
      return new Response("from a Response", { status: 201, headers: { "x-kind": "response" } });
    case "/throw":
      throw new Error("handler failure");
    case "/big":
      return { body: BIG };
    case "/bad-header":
      return { headers: { "x-bad": "a\r\nb" }, body: "nope" };
    default:
      return { status: 404, body: `no ${req.pathname}\n` };
  }
}

const BIG = new Uint8Array(64 * 1024).fill(97);

export async function tcpEcho(conn: TcpStream): Promise<void> {
  const buf = new Uint8Array(16 * 1024);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    await conn.writeAll(buf.subarray(0, n));
  }
}

export const notAFunction = 42;
