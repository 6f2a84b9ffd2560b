// Handler modules of tests/serve_test.ts, run in the server's workers.
import { AtomicCounter, type HttpReply, type HttpRequest, sleep, type TcpStream } from "../../mod.ts";

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

/** Waits on an avx timer (a completion through this worker's queue) before replying. */
export async function avxSleep(): Promise<HttpReply> {
  await sleep(1);
  return "slept";
}

/** Counts its request, then waits (up to 10 s) until `expect` requests arrived. */
export async function gather(_req: HttpRequest, context?: unknown): Promise<HttpReply> {
  const { arrived, expect } = context as { arrived: number; expect: number };
  using counter = AtomicCounter.from(arrived);
  counter.add(1);
  for (let i = 0; i < 1000 && counter.load() < expect; i++) await sleep(10);
  return counter.load() >= expect ? `all ${expect} arrived` : `only ${counter.load()} arrived`;
}
