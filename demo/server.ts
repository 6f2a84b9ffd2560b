/**
 * Demo: a chat server over TCP and an HTTP server, scripted in TypeScript
 * on avx, with live metrics.
 *
 * Both servers run their handler modules (`chat.ts`,
 * `http.ts`) in worker isolates of their own, and every isolate
 * shares the same native objects (`state.ts`): a broadcast channel
 * carrying every chat line to every connection, the roster of nicks (an
 * AtomicBox changed under a Mutex), the recent history (an AtomicBox kept
 * by this isolate) and counters. This isolate prints metrics every second
 * from a timer on the native wheel.
 *
 *   deno run --allow-ffi --allow-read --allow-env --allow-net=127.0.0.1 demo/server.ts [options]
 *
 *   --chat-port N      chat server port (default 7000; 0 = any free port)
 *   --http-port N      HTTP server port (default 7001; 0 = any free port)
 *   --hostname IP      address to listen on (default 127.0.0.1)
 *   --workers N        worker isolates per server (default: one per CPU)
 *   --demo-clients N   also run N simulated chat clients, then print a summary and exit
 *   --duration S       how long the simulated clients talk (default 5 seconds)
 *   --rate R           lines per second each simulated client says (default 10)
 *
 * Without `--demo-clients` it runs until Ctrl+C. The self-driving mode exits
 * with status 0 when every line reached every simulated client (or the
 * client was told it missed it, having fallen behind) and the HTTP server
 * answered, 1 otherwise.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  after,
  type AtomicBox,
  AvxError,
  type BroadcastReceiver,
  interval,
  LaggedError,
  now,
  serve,
  sleep,
  type TimerHandle,
  timerMetrics,
} from "../mod.ts";
import { type BotReport, SimulatedClients } from "./bots.ts";
import type { HttpContext } from "./http.ts";
import { ChatState } from "./state.ts";

/** Chat lines kept for `GET /history`. */
const HISTORY = 100;
/** The history box is rewritten at most this often (ms). */
const HISTORY_PUBLISH = 50;

const USAGE = `deno run --allow-ffi --allow-read --allow-env --allow-net=127.0.0.1 demo/server.ts [options]
  --chat-port N      chat server port (default 7000; 0 = any free port)
  --http-port N      HTTP server port (default 7001; 0 = any free port)
  --hostname IP      address to listen on (default 127.0.0.1)
  --workers N        worker isolates per server (default: one per CPU)
  --demo-clients N   also run N simulated chat clients, then print a summary and exit
  --duration S       how long the simulated clients talk (default 5 seconds)
  --rate R           lines per second each simulated client says (default 10)`;

const args = parseOptions();
if (args.values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
const hostname = args.values.hostname;
const chatPort = integer("chat-port", 0, 65535);
const httpPort = integer("http-port", 0, 65535);
const workers = integer("workers", 1, 64);
const demoClients = integer("demo-clients", 0, 10_000);
const duration = number("duration", 0.1, 86_400);
const rate = number("rate", 0.1, 1000);
// Where clients should connect when the servers listen on every interface.
const connectHost = hostname === "0.0.0.0" ? "127.0.0.1" : hostname === "::" ? "::1" : hostname;
const isTerminal = Deno.stdout.isTerminal();
const encoder = new TextEncoder();

using state = ChatState.create();
// Subscribe before the servers start so the history misses nothing.
using historyFeed = state.lines.subscribe();
await using chat = await serve(
  { hostname, port: chatPort, protocol: "tcp", workers, context: state.handles },
  new URL("./chat.ts", import.meta.url),
).catch(portInUse("chat-port"));
const httpContext: HttpContext = { chat: state.handles, chatPort: chat.addr.port };
await using http = await serve(
  { hostname, port: httpPort, workers, context: httpContext },
  new URL("./http.ts", import.meta.url),
).catch(portInUse("http-port"));
const historyKept = keepHistory(historyFeed, state.history);

const chatAt = `${connectHost}:${chat.addr.port}`;
const httpAt = `http://${host(connectHost)}:${http.addr.port}`;
const clientCommand = `deno run --allow-ffi --allow-read --allow-env --allow-net=${connectHost} demo/client.ts`;
console.log(`avx chat demo: ${count(workers, "worker isolate")} per server, one broadcast channel shared by all
  chat  ${chatAt.padEnd(24)} nc ${connectHost} ${chat.addr.port}
${"".padEnd(32)} ${clientCommand} --port ${chat.addr.port}
  http  ${httpAt.padEnd(24)} curl ${httpAt}/stats   (also /, /history, /who)`);

const stopMetrics = new AbortController();
const metricsShown = showMetrics(stopMetrics.signal);
let ok = true;
try {
  if (demoClients > 0) ok = await selfDrive();
  else await interrupted();
} catch (e) {
  log(`demo failed: ${e instanceof Error ? e.stack : e}`);
  ok = false;
} finally {
  stopMetrics.abort();
  await metricsShown;
}
await chat.shutdown();
await http.shutdown();
state.lines.close(); // Ends the history feed (and any subscriber left).
await historyKept;
console.log(ok ? "stopped" : "stopped, with failures");
if (!ok) Deno.exitCode = 1;

/** Run the simulated clients, print the summary; whether everything checked out. */
async function selfDrive(): Promise<boolean> {
  log(`connecting ${count(demoClients, "simulated client")} to ${chatAt}`);
  const bots = await SimulatedClients.connect({ hostname: connectHost, port: chat.addr.port, clients: demoClients });
  log(`${count(bots.size, "client")} in; talking for ${duration} s, ${count(rate, "line")}/s each`);
  const started = now();
  await bots.talk(duration * 1000, rate);
  const talked = now() - started;
  log(`${bots.sent} lines sent; waiting for every client to receive them all`);
  const settled = await bots.settle();
  const who = await bots.who();
  const stats = await get("/stats");
  const history = await get("/history?n=3");
  const home = await get("/");
  await bots.quit();
  // The server counts a connection closed just after the client saw it close.
  for (let i = 0; i < 100 && chat.metrics().open > 0; i++) await sleep(10);
  const reports = bots.reports();
  const chatM = chat.metrics();
  const httpM = http.metrics();
  const received = reports.map((r) => r.received);
  const sum = (f: (r: BotReport) => number) => reports.reduce((a, r) => a + f(r), 0);
  const missed = sum((r) => r.missed);
  const disorder = sum((r) => r.disorder);
  const min = Math.min(...received);
  const max = Math.max(...received);
  // Lag is reported (the client is told how many lines it missed); a line
  // that is neither received nor reported missed would be a bug.
  const short = reports.filter((r) => r.received + r.missed < bots.sent).length;
  const lagged = reports.filter((r) => r.missed > 0).length;
  const delivered = settled && short === 0 && disorder === 0;
  const statsOk = stats.status === 200 && JSON.parse(stats.body).messages === bots.sent;
  const httpOk = statsOk && history.status === 200 && home.status === 200;
  const verdict = !delivered
    ? `LINES LOST: ${count(short, "client")} short with no notice, ${count(disorder, "line")} out of order`
    : lagged > 0
    ? `every line received or reported missed (${count(lagged, "client")} fell behind the channel)`
    : "every client got every line, in order";
  const lastLine = history.body.trimEnd().split("\n").at(-1) ?? "";
  log(
    `summary: ${count(bots.size, "simulated client")} talked for ${(talked / 1000).toFixed(1)} s, ${
      count(rate, "line")
    }/s each
  sent         ${bots.sent} chat lines (${Math.round(bots.sent / (talked / 1000))}/s)
  delivered    ${bots.sent} lines to each of ${
      count(bots.size, "client")
    }: got min ${min} max ${max}, missed ${missed}, out of order ${disorder}
  /who         ${who.length > 100 ? `${who.slice(0, 96)} ...` : who}
  GET /stats   ${stats.status} ${stats.body.trimEnd()}
  GET /history ${history.status} ${count(history.body.split("\n").length - 1, "line")}, last: ${lastLine}
  chat server  ${count(chatM.accepted, "connection")} accepted, ${chatM.open} open
  http server  ${count(httpM.requests, "request")}, ${count(httpM.responses, "response")}
  result       ${verdict}; ${httpOk ? "HTTP answered" : "HTTP FAILED"}`,
  );
  return delivered && httpOk;
}

/** GET a path of the HTTP server. */
async function get(path: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`${httpAt}${path}`);
  return { status: r.status, body: await r.text() };
}

/** Keep the last chat lines in `box` until the channel closes. */
async function keepHistory(feed: BroadcastReceiver<string>, box: AtomicBox<string[]>): Promise<void> {
  const lines: string[] = [];
  // Rewrite the box at most every HISTORY_PUBLISH ms, on a one-shot timer.
  let publishing: TimerHandle | undefined;
  const publish = () => {
    publishing = undefined;
    box.store(lines);
  };
  for (;;) {
    let line: string | null;
    try {
      line = await feed.recv();
    } catch (e) {
      if (!(e instanceof LaggedError)) throw e;
      line = `* the history missed ${e.missed} lines`;
    }
    if (line === null) break;
    if (line.startsWith("* ") && !line.startsWith("* the history")) continue; // Notices are not history.
    lines.push(line);
    if (lines.length > HISTORY) lines.splice(0, lines.length - HISTORY);
    publishing ??= after(HISTORY_PUBLISH, publish);
  }
  publishing?.cancel();
  publish();
}

/** Print the servers' metrics every second: one updating line on a terminal, a line per second otherwise. */
async function showMetrics(signal: AbortSignal): Promise<void> {
  let last = { at: now(), messages: 0, delivered: 0 };
  try {
    for await (const _ of interval(1000, { signal })) {
      const s = state.stats();
      const at = now();
      const secs = (at - last.at) / 1000;
      const c = chat.metrics();
      const h = http.metrics();
      status(
        `${s.uptime.toFixed(0).padStart(4)}s  chat: ${s.online} online, ${fmt(s.messages)} msgs ` +
          `(${fmt((s.messages - last.messages) / secs)}/s), ${fmt(s.delivered)} lines out ` +
          `(${fmt((s.delivered - last.delivered) / secs)}/s), ${fmt(c.accepted)} accepted  ` +
          `http: ${fmt(h.requests)} requests, ${h.open} open  timers: ${fmt(timerMetrics().fired)} fired`,
      );
      last = { at, messages: s.messages, delivered: s.delivered };
    }
  } catch (e) {
    if (!signal.aborted) throw e;
  }
  status(undefined);
}

let statusLine: string | undefined;

/** Show `line` as the status line (a terminal redraws it in place); `undefined` ends it. */
function status(line: string | undefined): void {
  if (!isTerminal) {
    if (line !== undefined) console.log(line);
    return;
  }
  Deno.stdout.writeSync(encoder.encode(line === undefined ? (statusLine ? "\n" : "") : `\r\x1b[2K${line}`));
  statusLine = line;
}

/** Print a message above the status line. */
function log(message: string): void {
  if (isTerminal && statusLine !== undefined) Deno.stdout.writeSync(encoder.encode("\r\x1b[2K"));
  console.log(message);
  if (isTerminal && statusLine !== undefined) Deno.stdout.writeSync(encoder.encode(statusLine));
}

/** Resolves on Ctrl+C. */
async function interrupted(): Promise<void> {
  const { promise, resolve } = Promise.withResolvers<void>();
  log("Ctrl+C stops");
  Deno.addSignalListener("SIGINT", resolve);
  try {
    await promise;
  } finally {
    Deno.removeSignalListener("SIGINT", resolve);
  }
  log("stopping");
}

/** `3 clients`, `1 client`. */
function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

function host(h: string): string {
  return h.includes(":") ? `[${h}]` : h;
}

function parseOptions() {
  try {
    return parseArgs({
      options: {
        "chat-port": { type: "string", default: "7000" },
        "http-port": { type: "string", default: "7001" },
        hostname: { type: "string", default: "127.0.0.1" },
        workers: { type: "string", default: String(navigator.hardwareConcurrency ?? 2) },
        "demo-clients": { type: "string", default: "0" },
        duration: { type: "string", default: "5" },
        rate: { type: "string", default: "10" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    usage((e as Error).message);
  }
}

function integer(name: keyof typeof args.values, min: number, max: number): number {
  const n = number(name, min, max);
  if (!Number.isInteger(n)) usage(`--${name} must be an integer`);
  return n;
}

function number(name: keyof typeof args.values, min: number, max: number): number {
  const n = Number(args.values[name]);
  if (!(n >= min && n <= max)) usage(`--${name} must be a number in ${min}..${max}, got ${args.values[name]}`);
  return n;
}

/** A `catch` handler: a port in use is a usage error, anything else is rethrown. */
function portInUse(option: string): (e: unknown) => never {
  return (e) => {
    if (e instanceof AvxError && e.code === "EADDRINUSE") usage(`the --${option} is in use; 0 picks a free one`);
    throw e;
  };
}

function usage(message: string): never {
  console.error(`demo/server.ts: ${message} (--help lists the options)`);
  Deno.exit(2);
}
