/**
 * The chat demo's shared state: native objects the main isolate creates
 * once and every worker isolate of both servers uses through their handles.
 *
 * A handle is a plain number, so the whole set travels in `serve`'s
 * `context` option (structured-cloned into each worker) and each worker
 * calls {@link ChatState.attach} once to wrap the same objects:
 *
 * - `lines`, a `broadcast` channel: every chat line and notice, seen by
 *   every connection (and by the main isolate, which keeps the history);
 * - `roster`, an `AtomicBox` with the nicks online, read without locking
 *   and changed only under `rosterLock`, a `Mutex`;
 * - `history`, an `AtomicBox` with the last chat lines (written by the
 *   main isolate alone, read by the HTTP workers);
 * - `AtomicCounter`s for the statistics.
 *
 * @module
 */
import { AtomicBox, AtomicCounter, broadcast, BroadcastSender, type Handle, Mutex, now } from "../mod.ts";

/** How many lines a slow connection may fall behind before it is told it missed some. */
export const CHANNEL_CAPACITY = 1024;

/** The handles of a {@link ChatState}: what `serve`'s `context` carries to the workers. */
export interface ChatHandles {
  /** `BroadcastSender<string>` (string codec): chat lines and notices. */
  lines: Handle;
  /** `Mutex` held while the roster changes. */
  rosterLock: Handle;
  /** `AtomicBox<string[]>` (JSON codec): the nicks online. */
  roster: Handle;
  /** `AtomicBox<string[]>` (JSON codec): the last chat lines, oldest first. */
  history: Handle;
  /** `AtomicCounter`: chat lines posted. */
  messages: Handle;
  /** `AtomicCounter`: lines written to chat connections (the broadcast fan-out). */
  delivered: Handle;
  /** `AtomicCounter`: chat connections open. */
  online: Handle;
  /** `AtomicCounter`: HTTP requests served. */
  requests: Handle;
  /** `AtomicCounter`: the last guest number given out. */
  guests: Handle;
  /** When the state was made, on avx's `now()` clock (the same in every isolate). */
  startedAt: number;
}

/** What `GET /stats` answers. */
export interface ChatStats {
  /** Chat lines posted. */
  messages: number;
  /** Chat clients connected now. */
  online: number;
  /** HTTP requests served (this one included). */
  requests: number;
  /** Lines written to chat clients (each message once per client). */
  delivered: number;
  /** Seconds since the servers started. */
  uptime: number;
}

/**
 * The shared objects, wrapped for this isolate. The main isolate makes
 * them with {@link ChatState.create}; a worker attaches with
 * {@link ChatState.attach}. Disposing gives this isolate's references
 * back (the objects live on while other isolates hold theirs).
 *
 * @example
 * ```ts
 * import { ChatState } from "./state.ts";
 *
 * using state = ChatState.create();
 * // serve({ protocol: "tcp", context: state.handles }, new URL("./chat.ts", import.meta.url))
 * // and in the handler: const state = ChatState.attach(context as ChatHandles);
 * console.log(state.stats().online); // 0
 * ```
 */
export class ChatState implements Disposable {
  /** Chat lines and notices, to every connection. */
  readonly lines: BroadcastSender<string>;
  /** Held while the roster changes. */
  readonly rosterLock: Mutex;
  /** The nicks online. */
  readonly roster: AtomicBox<string[]>;
  /** The last chat lines, oldest first. */
  readonly history: AtomicBox<string[]>;
  /** Chat lines posted. */
  readonly messages: AtomicCounter;
  /** Lines written to chat connections. */
  readonly delivered: AtomicCounter;
  /** Chat connections open. */
  readonly online: AtomicCounter;
  /** HTTP requests served. */
  readonly requests: AtomicCounter;
  /** The last guest number given out. */
  readonly guests: AtomicCounter;
  /** When the state was made, on `now()`'s clock. */
  readonly startedAt: number;

  private constructor(
    parts: Omit<ChatState, "handles" | "stats" | typeof Symbol.dispose>,
  ) {
    this.lines = parts.lines;
    this.rosterLock = parts.rosterLock;
    this.roster = parts.roster;
    this.history = parts.history;
    this.messages = parts.messages;
    this.delivered = parts.delivered;
    this.online = parts.online;
    this.requests = parts.requests;
    this.guests = parts.guests;
    this.startedAt = parts.startedAt;
  }

  /**
   * Make the shared objects (in the main isolate, before the servers).
   *
   * @example
   * ```ts
   * import { ChatState } from "./state.ts";
   * using state = ChatState.create();
   * ```
   */
  static create(): ChatState {
    return new ChatState({
      lines: broadcast<string>({ codec: "string", capacity: CHANNEL_CAPACITY }),
      rosterLock: new Mutex(),
      roster: new AtomicBox<string[]>([], { codec: "json" }),
      history: new AtomicBox<string[]>([], { codec: "json" }),
      messages: new AtomicCounter(),
      delivered: new AtomicCounter(),
      online: new AtomicCounter(),
      requests: new AtomicCounter(),
      guests: new AtomicCounter(),
      startedAt: now(),
    });
  }

  /**
   * Wrap the objects another isolate made, from their handles (in a
   * handler, from `serve`'s `context`).
   *
   * @example
   * ```ts
   * import { ChatState } from "./state.ts";
   * using made = ChatState.create();
   * using attached = ChatState.attach(made.handles); // normally in another isolate
   * ```
   */
  static attach(h: ChatHandles): ChatState {
    return new ChatState({
      lines: BroadcastSender.from<string>(h.lines, { codec: "string" }),
      rosterLock: Mutex.from(h.rosterLock),
      roster: AtomicBox.from<string[]>(h.roster, { codec: "json" }),
      history: AtomicBox.from<string[]>(h.history, { codec: "json" }),
      messages: AtomicCounter.from(h.messages),
      delivered: AtomicCounter.from(h.delivered),
      online: AtomicCounter.from(h.online),
      requests: AtomicCounter.from(h.requests),
      guests: AtomicCounter.from(h.guests),
      startedAt: h.startedAt,
    });
  }

  /** The handles, to pass as `serve`'s `context`. */
  get handles(): ChatHandles {
    return {
      lines: this.lines.handle,
      rosterLock: this.rosterLock.handle,
      roster: this.roster.handle,
      history: this.history.handle,
      messages: this.messages.handle,
      delivered: this.delivered.handle,
      online: this.online.handle,
      requests: this.requests.handle,
      guests: this.guests.handle,
      startedAt: this.startedAt,
    };
  }

  /** The counters now (each read atomically; together, a close snapshot). */
  stats(): ChatStats {
    return {
      messages: this.messages.load(),
      online: this.online.load(),
      requests: this.requests.load(),
      delivered: this.delivered.load(),
      uptime: Math.round((now() - this.startedAt) / 100) / 10,
    };
  }

  /** Give this isolate's references back. */
  [Symbol.dispose](): void {
    for (
      const r of [
        this.lines,
        this.rosterLock,
        this.roster,
        this.history,
        this.messages,
        this.delivered,
        this.online,
        this.requests,
        this.guests,
      ]
    ) r[Symbol.dispose]();
  }
}
