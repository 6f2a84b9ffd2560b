/**
 * The chat server's handler module: `serve({ protocol: "tcp" })` runs it in
 * every worker isolate and calls the default export with each connection.
 *
 * Each connection subscribes to the shared `lines` broadcast channel and
 * runs two loops: one reads what the client types (chat lines are sent to
 * the channel, commands answered), the other writes everything the channel
 * carries to the client. Connections handled by different worker isolates
 * see the same channel, so every client gets every line, in the same
 * order. A client that reads too slowly falls behind the channel's ring:
 * the receive fails with a `LaggedError` saying how many lines it missed,
 * the client is told, and it continues from the oldest line retained.
 *
 * Commands: `/nick name`, `/who`, `/quit`. Who is online lives in an
 * `AtomicBox` (the roster) that any isolate reads without locking; changes
 * (join, rename, leave) read, check and store it under a `Mutex`, so two
 * clients in different isolates cannot take the same nick.
 *
 * @module
 */
import { AvxError, type BroadcastReceiver, LaggedError, type TcpStream } from "../mod.ts";
import { LineWriter, readLines } from "./lines.ts";
import { type ChatHandles, ChatState } from "./state.ts";

/** Longest line a client may send (characters). */
const MAX_LINE = 1000;
/** Stop taking lines from the channel for a client with this many characters unwritten. */
const HIGH_WATER = 64 * 1024;
const NICK = /^[A-Za-z0-9_.-]{1,24}$/;

// One per worker isolate: the handler module is loaded once per worker and
// every call gets the same context, so attach to the shared objects once.
let shared: ChatState | undefined;

/**
 * Serve one chat client until it quits or disconnects. `context` is the
 * `ChatHandles` the main isolate passed to `serve`.
 *
 * @example Serving it
 * ```ts
 * import { serve } from "../mod.ts";
 * import { ChatState } from "./state.ts";
 *
 * using state = ChatState.create();
 * await using server = await serve(
 *   { hostname: "127.0.0.1", port: 7000, protocol: "tcp", context: state.handles },
 *   new URL("./chat.ts", import.meta.url),
 * );
 * ```
 */
export default async function chat(conn: TcpStream, context: unknown): Promise<void> {
  const state = shared ??= ChatState.attach(context as ChatHandles);
  const out = new LineWriter(conn, (n) => state.delivered.add(n));
  // Subscribe first: from here on this connection sees every line sent.
  using rx = state.lines.subscribe();
  let nick = await join(state);
  const stop = new AbortController();
  const forwarding = forward(rx, out, stop.signal);
  try {
    out.send(`* welcome, ${nick}! ${state.online.load()} online. Commands: /nick name, /who, /quit`);
    announce(state, `* ${nick} joined`);
    for await (const typed of readLines(conn, MAX_LINE)) {
      // No control characters (terminal escapes) into other people's terminals.
      const line = typed.replace(/\p{Cc}/gu, "");
      if (!line.startsWith("/")) {
        if (line.trim() === "") continue;
        state.messages.add(1);
        announce(state, `${nick}: ${line}`);
        continue;
      }
      const [command, ...args] = line.split(" ");
      if (command === "/quit") {
        out.send("* bye");
        break;
      } else if (command === "/who") {
        const names = state.roster.load();
        out.send(`* online (${names.length}): ${names.join(", ")}`);
      } else if (command === "/nick") {
        nick = await changeNick(state, out, nick, args.join(" ").trim());
      } else {
        out.send(`* unknown command ${command}; try /nick name, /who, /quit`);
      }
    }
  } catch (e) {
    // The client reset the connection or the server is shutting down:
    // this client is done, the others go on.
    if (e instanceof RangeError) out.send(`* lines are limited to ${MAX_LINE} characters; bye`);
    else if (!(e instanceof AvxError)) throw e;
  } finally {
    stop.abort();
    await forwarding;
    await leave(state, nick);
    announce(state, `* ${nick} left`);
    await out.drained();
  }
}

/** Copy the channel to the client until `signal` aborts, the channel closes or the client is gone. */
async function forward(rx: BroadcastReceiver<string>, out: LineWriter, signal: AbortSignal): Promise<void> {
  while (!out.failed) {
    // Let a client that does not read fall behind the channel (it will be
    // told) rather than buffer without bound.
    if (out.backlog > HIGH_WATER) await out.drained();
    let line: string | null;
    try {
      line = await rx.recv({ signal });
    } catch (e) {
      if (e instanceof LaggedError) {
        out.send(`* you missed ${e.missed} messages: your connection fell behind`);
        continue;
      }
      if (e instanceof AvxError) return; // ABORTED: the client left.
      throw e;
    }
    if (line === null) return; // The channel was closed: the server is stopping.
    out.send(line);
  }
}

/** `/nick name`: take `wanted` if it is valid and free; returns the nick now held. */
async function changeNick(state: ChatState, out: LineWriter, nick: string, wanted: string): Promise<string> {
  if (!NICK.test(wanted)) {
    out.send("* usage: /nick name (1 to 24 letters, digits, _ . -)");
    return nick;
  }
  if (wanted === nick) {
    out.send(`* you are ${nick}`);
    return nick;
  }
  if (!await rename(state, nick, wanted)) {
    out.send(`* ${wanted} is taken`);
    return nick;
  }
  announce(state, `* ${nick} is now known as ${wanted}`);
  return wanted;
}

/** Send to every client; after shutdown has closed the channel, do nothing. */
function announce(state: ChatState, line: string): void {
  try {
    state.lines.sendSync(line);
  } catch (e) {
    if (!(e instanceof AvxError && e.code === "CLOSED")) throw e;
  }
}

/** Join the roster under a fresh guest nick. */
async function join(state: ChatState): Promise<string> {
  using _locked = await state.rosterLock.lock();
  const names = state.roster.load();
  let nick: string;
  do {
    nick = `guest-${state.guests.add(1)}`;
  } while (names.includes(nick)); // Someone may have taken that one with /nick.
  state.roster.store([...names, nick]);
  state.online.add(1);
  return nick;
}

/** Take nick `to` instead of `from`, unless someone has it. */
async function rename(state: ChatState, from: string, to: string): Promise<boolean> {
  using _locked = await state.rosterLock.lock();
  const names = state.roster.load();
  if (names.includes(to)) return false;
  state.roster.store(names.map((n) => n === from ? to : n));
  return true;
}

/** Leave the roster. */
async function leave(state: ChatState, nick: string): Promise<void> {
  using _locked = await state.rosterLock.lock();
  state.roster.store(state.roster.load().filter((n) => n !== nick));
  state.online.sub(1);
}
