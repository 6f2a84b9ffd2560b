/**
 * A terminal client for the chat server, on avx's `connect`: what you type
 * goes to the server, what the server sends is printed.
 *
 *   deno run --allow-ffi --allow-read --allow-env --allow-net=127.0.0.1 demo/client.ts [--port 7000] [--nick name]
 *
 * Commands: `/nick name`, `/who`, `/quit` (or end the input: Ctrl+D).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { AvxError, connect } from "../mod.ts";
import { LineWriter, readLines } from "./lines.ts";

/** Options of {@link talk}. */
export interface TalkOptions {
  /** The chat server's host. Default `127.0.0.1`. */
  hostname?: string;
  /** The chat server's port. */
  port: number;
  /** A nick to take at once. */
  nick?: string;
}

/**
 * Talk to the chat server from this terminal until the server closes the
 * connection (after `/quit` or the end of input, or when it stops). A read
 * of stdin may still be pending then: a program that is done should exit.
 *
 * @example
 * ```ts
 * import { talk } from "./client.ts";
 * await talk({ port: 7000, nick: "ada" });
 * ```
 */
export async function talk(options: TalkOptions): Promise<void> {
  using conn = await connect({ hostname: options.hostname ?? "127.0.0.1", port: options.port });
  const out = new LineWriter(conn);
  if (options.nick) out.send(`/nick ${options.nick}`);
  // Typing: stdin lines go to the server; the end of input says /quit.
  const typing = (async () => {
    for await (const line of readLines(Deno.stdin)) out.send(line);
    out.send("/quit");
    await out.drained();
  })();
  typing.catch(() => {});
  try {
    for await (const line of readLines(conn)) console.log(line);
    console.log("(disconnected)");
  } catch (e) {
    if (!(e instanceof AvxError)) throw e;
    console.log(`(disconnected: ${e.code})`);
  }
}

if (import.meta.main) {
  const args = parseArgs({
    options: {
      hostname: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "7000" },
      nick: { type: "string" },
    },
  });
  try {
    await talk({ hostname: args.values.hostname, port: Number(args.values.port), nick: args.values.nick });
  } catch (e) {
    if (!(e instanceof AvxError)) throw e;
    console.error(`demo/client.ts: ${e.message}`);
    Deno.exit(1);
  }
  Deno.exit(0); // A read of stdin cannot be cancelled.
}
