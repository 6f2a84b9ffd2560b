/**
 * The HTTP server's handler module: `serve` runs it in every worker
 * isolate and calls the default export with each request. It reads the
 * chat's shared state (counters, roster, history) straight from the
 * native objects: no message to the main isolate, no lock.
 *
 * - `GET /`: a short help text
 * - `GET /stats`: `{ messages, online, requests, delivered, uptime }` as JSON
 * - `GET /history?n=20`: the last chat lines, one per line
 * - `GET /who`: the nicks online, one per line
 *
 * @module
 */
import type { HttpReply, HttpRequest } from "../mod.ts";
import { type ChatHandles, ChatState } from "./state.ts";

/** What the main isolate passes as `serve`'s `context`. */
export interface HttpContext {
  /** The chat's shared objects. */
  chat: ChatHandles;
  /** The chat server's port, for the help text. */
  chatPort: number;
}

const JSON_HEADERS = { "content-type": "application/json" };

// One per worker isolate: attach to the shared objects on the first request.
let shared: ChatState | undefined;

/**
 * Answer one request. Synchronous: nothing here waits, so the worker
 * answers a whole batch of pipelined requests in one go.
 *
 * @example Serving it
 * ```ts
 * import { serve } from "../mod.ts";
 * import { ChatState } from "./state.ts";
 *
 * using state = ChatState.create();
 * await using server = await serve(
 *   { hostname: "127.0.0.1", port: 7001, context: { chat: state.handles, chatPort: 7000 } },
 *   new URL("./http.ts", import.meta.url),
 * );
 * ```
 */
export default function http(req: HttpRequest, context: unknown): HttpReply {
  const { chat, chatPort } = context as HttpContext;
  const state = shared ??= ChatState.attach(chat);
  state.requests.add(1);
  if (req.method !== "GET" && req.method !== "HEAD") {
    return { status: 405, headers: { allow: "GET, HEAD" }, body: `${req.method} not allowed\n` };
  }
  switch (req.pathname) {
    case "/":
      return help(chatPort);
    case "/stats":
      return { headers: JSON_HEADERS, body: JSON.stringify(state.stats()) + "\n" };
    case "/history": {
      const n = Number(new URL(req.path, "http://host").searchParams.get("n") ?? 20);
      const lines = state.history.load();
      const keep = Number.isInteger(n) && n >= 0 ? Math.min(n, lines.length) : 20;
      return lines.slice(lines.length - keep).map((l) => l + "\n").join("");
    }
    case "/who":
      return state.roster.load().map((n) => n + "\n").join("");
    default:
      return { status: 404, body: `no ${req.pathname} here; try GET /\n` };
  }
}

function help(chatPort: number): string {
  return `avx chat demo
  GET /stats         counters as JSON: messages, online, requests, delivered, uptime
  GET /history?n=20  the last chat lines
  GET /who           who is online
chat: nc 127.0.0.1 ${chatPort}   then type; /nick name, /who, /quit
`;
}
