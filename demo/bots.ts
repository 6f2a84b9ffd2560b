/**
 * Simulated chat clients for the demo's self-driving mode: each connects
 * with avx's `connect`, takes a nick, talks at a steady rate on the timer
 * wheel (`interval`), and checks what it receives: every line of every
 * client, each client's lines in the order they were sent.
 *
 * @module
 */
import { AvxError, connect, interval, now, type TcpStream, timeout } from "../mod.ts";
import { LineWriter, readLines } from "./lines.ts";

/** How long a step (connecting, getting the last lines) may take before the run is called failed. */
const STEP_TIMEOUT = 30_000;
const CHAT_LINE = /^(bot-\d+): #(\d+) /;
const MISSED = /^\* you missed (\d+) messages/;
const WORDS = ["avx", "zig", "deno", "futex", "wheel", "ring", "steal", "park", "lock", "atomic", "isolate", "epoll"];

/** What one simulated client saw. */
export interface BotReport {
  /** Its nick (`bot-0`, `bot-1`, ...). */
  nick: string;
  /** Chat lines it sent. */
  sent: number;
  /** Chat lines of simulated clients it received (its own included). */
  received: number;
  /** Lines the server said it missed (it fell behind the channel). */
  missed: number;
  /** Lines out of order or repeated (should be 0). */
  disorder: number;
}

/** Something a bot waits for: checked after every line it receives (and once at the start, with none). */
type Check = (line: string | undefined) => boolean;

/** One simulated client. */
class Bot {
  readonly nick: string;
  readonly #conn: TcpStream;
  readonly #out: LineWriter;
  readonly #last = new Map<string, number>();
  readonly #waiters = new Set<(line: string | undefined) => void>();
  readonly #reading: Promise<void>;
  #closed = false;
  sent = 0;
  received = 0;
  missed = 0;
  disorder = 0;

  constructor(nick: string, conn: TcpStream) {
    this.nick = nick;
    this.#conn = conn;
    this.#out = new LineWriter(conn);
    this.#reading = this.#read();
  }

  /** Send a line. */
  say(line: string): void {
    this.#out.send(line);
  }

  /** Resolves once `done()` holds; rejects if the connection ends first or after the step timeout. */
  until(done: () => boolean, what: string): Promise<void> {
    return this.#wait(() => done(), what);
  }

  /** The next notice (a `* ...` line) matching `pattern`. */
  async notice(pattern: RegExp, what: string): Promise<string> {
    let found: string | undefined;
    await this.#wait((line) => {
      if (line?.startsWith("* ") && pattern.test(line)) found ??= line;
      return found !== undefined;
    }, what);
    return found!;
  }

  /** Say `/quit` and wait for the server to close the connection. */
  async quit(): Promise<void> {
    this.say("/quit");
    await timeout(this.#reading, STEP_TIMEOUT);
    this.#conn.close();
  }

  /** What this client saw. */
  report(): BotReport {
    return { nick: this.nick, sent: this.sent, received: this.received, missed: this.missed, disorder: this.disorder };
  }

  async #wait(check: Check, what: string): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const waiter = (line: string | undefined) => {
      if (check(line)) resolve();
      else if (this.#closed) reject(new Error(`${this.nick}: disconnected while waiting for ${what}`));
    };
    this.#waiters.add(waiter);
    waiter(undefined);
    try {
      await timeout(promise, STEP_TIMEOUT);
    } catch (e) {
      if (e instanceof AvxError && e.code === "TIMEOUT") {
        throw new Error(`${this.nick}: no ${what} after ${STEP_TIMEOUT / 1000} s`);
      }
      throw e;
    } finally {
      this.#waiters.delete(waiter);
    }
  }

  async #read(): Promise<void> {
    try {
      for await (const line of readLines(this.#conn)) {
        this.#count(line);
        for (const waiter of this.#waiters) waiter(line);
      }
    } catch (e) {
      if (!(e instanceof AvxError)) throw e;
    } finally {
      this.#closed = true;
      for (const waiter of this.#waiters) waiter(undefined);
    }
  }

  #count(line: string): void {
    const chat = CHAT_LINE.exec(line);
    if (chat !== null) {
      this.received++;
      const seq = Number(chat[2]);
      const last = this.#last.get(chat[1]) ?? 0;
      // After a lag, gaps are expected (and counted in `missed`).
      if (seq <= last || (seq !== last + 1 && this.missed === 0)) this.disorder++;
      this.#last.set(chat[1], seq);
      return;
    }
    const missed = MISSED.exec(line);
    if (missed !== null) this.missed += Number(missed[1]);
  }
}

/** Options of {@link SimulatedClients.connect}. */
export interface SimulatedClientsOptions {
  /** The chat server's host. */
  hostname: string;
  /** The chat server's port. */
  port: number;
  /** How many clients. */
  clients: number;
}

/**
 * A group of simulated clients: connect them, let them talk, check that
 * each got every line, then let them quit.
 *
 * @example
 * ```ts
 * import { SimulatedClients } from "./bots.ts";
 *
 * const bots = await SimulatedClients.connect({ hostname: "127.0.0.1", port: 7000, clients: 4 });
 * await bots.talk(2000, 10);
 * const complete = await bots.settle();
 * console.log(complete, bots.reports());
 * await bots.quit();
 * ```
 */
export class SimulatedClients {
  readonly #bots: Bot[];
  #sent = 0;

  private constructor(bots: Bot[]) {
    this.#bots = bots;
  }

  /**
   * Connect every client and give each its nick; resolves once all are
   * in, so every line sent from then on reaches all of them.
   */
  static async connect(options: SimulatedClientsOptions): Promise<SimulatedClients> {
    const bots = await Promise.all(Array.from({ length: options.clients }, async (_, i) => {
      const conn = await connect({ hostname: options.hostname, port: options.port });
      conn.setNoDelay();
      const bot = new Bot(`bot-${i}`, conn);
      // The welcome comes after the server subscribed this connection to the channel.
      await bot.notice(/^\* welcome, /, "welcome");
      bot.say(`/nick ${bot.nick}`);
      await bot.notice(new RegExp(`is now known as ${bot.nick}$`), "nick confirmation");
      return bot;
    }));
    return new SimulatedClients(bots);
  }

  /** How many clients. */
  get size(): number {
    return this.#bots.length;
  }

  /** Chat lines sent by all clients so far. */
  get sent(): number {
    return this.#sent;
  }

  /**
   * Every client says a line at once, then `rate` times a second (ticks
   * of `interval` on the timer wheel) until `ms` milliseconds have passed.
   */
  async talk(ms: number, rate: number): Promise<void> {
    const end = now() + ms;
    await Promise.all(this.#bots.map(async (bot, i) => {
      const say = () => {
        const seq = ++bot.sent;
        bot.say(`#${seq} ${WORDS[(seq * 7 + i) % WORDS.length]} ${WORDS[(seq * 3 + i * 5) % WORDS.length]}`);
        this.#sent++;
      };
      say();
      for await (const _ of interval(1000 / rate)) {
        if (now() >= end) break;
        say();
      }
    }));
  }

  /**
   * Wait until every client has received every line sent (or been told it
   * missed some); `false` if a client is still short after the step
   * timeout.
   */
  async settle(): Promise<boolean> {
    const total = this.#sent;
    try {
      await Promise.all(this.#bots.map((b) => b.until(() => b.received + b.missed >= total, `all ${total} lines`)));
      return true;
    } catch {
      return false;
    }
  }

  /** The server's answer to `/who`, asked by the first client. */
  async who(): Promise<string> {
    const bot = this.#bots[0];
    bot.say("/who");
    return await bot.notice(/^\* online /, "/who answer");
  }

  /** What each client saw. */
  reports(): BotReport[] {
    return this.#bots.map((b) => b.report());
  }

  /** Every client says `/quit`; resolves once the server closed every connection. */
  async quit(): Promise<void> {
    await Promise.all(this.#bots.map((b) => b.quit()));
  }
}
