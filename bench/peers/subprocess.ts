/**
 * Child processes of the networking benchmarks: the servers of
 * bench/peers/net_server.ts, the load generators (wrk, avx-echo-client),
 * and the cleanup that kills them all when the script ends, fails or is
 * interrupted.
 *
 * Every server also exits by itself when its stdin closes, which happens
 * when this process exits in any way (even killed), so no server outlives
 * its script.
 *
 * @module
 */
import type { Ready, ServerKind } from "./net_server.ts";

const live = new Set<Deno.ChildProcess>();
let handlersInstalled = false;

/** Kill every child still running (SIGKILL), synchronously. */
export function killAll(): void {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }
  live.clear();
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  globalThis.addEventListener("unload", killAll);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      killAll();
      Deno.exit(signal === "SIGINT" ? 130 : 143);
    });
  }
}

/** Track `child` until it exits: {@link killAll} kills it if it is still running. */
export function track(child: Deno.ChildProcess): Deno.ChildProcess {
  installHandlers();
  live.add(child);
  child.status.finally(() => live.delete(child));
  return child;
}

/** Run `cmd args` (tracked), collecting its output. */
export async function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = track(new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" }).spawn());
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/** A server of bench/peers/net_server.ts running in its own process. */
export interface ServerProcess extends Ready {
  /** Kill it and wait until it has exited. */
  stop(): Promise<void>;
}

/** The permissions a server of `kind` needs. */
function permissions(kind: ServerKind): string[] {
  const net = "--allow-net=127.0.0.1";
  return kind.startsWith("avx-") ? ["--allow-ffi", "--allow-read", "--allow-env", net] : [net];
}

/**
 * Start a server of `kind` in a new `deno run` process; resolves once it
 * listens. Its stderr goes to ours; its stdout after the ready line too.
 */
export async function startServer(kind: ServerKind, workers = 2): Promise<ServerProcess> {
  const child = track(
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...permissions(kind),
        new URL("./net_server.ts", import.meta.url).pathname,
        kind,
        `--workers=${workers}`,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn(),
  );
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await child.status;
  };
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${kind}: not listening after 30 s`)), 30_000);
  });
  try {
    for (;;) {
      const { value, done } = await Promise.race([lines.read(), timeout]);
      if (done) {
        const { code } = await child.status;
        throw new Error(`${kind}: the server exited (code ${code}) before listening`);
      }
      text += value;
      const nl = text.indexOf("\n");
      if (nl < 0) continue;
      const ready = JSON.parse(text.slice(0, nl)) as Ready;
      if (ready.kind !== kind || !(ready.port > 0)) {
        throw new Error(`${kind}: unexpected ready line ${text.slice(0, nl)}`);
      }
      // Anything it prints later goes to our stderr.
      (async () => {
        const rest = text.slice(nl + 1);
        if (rest) await Deno.stderr.write(new TextEncoder().encode(rest));
        for (;;) {
          const { value, done } = await lines.read();
          if (done) return;
          await Deno.stderr.write(new TextEncoder().encode(value));
        }
      })().catch(() => {});
      return { ...ready, pid: child.pid, stop };
    }
  } catch (e) {
    await stop();
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/** Stop every server in `servers` (those started). */
export async function stopAll(servers: Iterable<ServerProcess | undefined>): Promise<void> {
  await Promise.all([...servers].map((s) => s?.stop()));
}

// Deno asks for --allow-all to read /proc/<pid>/ itself; cat and ls only need --allow-run.

/** A field of /proc/<pid>/status in KiB (`VmRSS`, `VmHWM`...); Linux only. */
export async function procStatusKiB(pid: number, field = "VmRSS"): Promise<number> {
  const out = await run("cat", [`/proc/${pid}/status`]);
  if (out.code !== 0) throw new Error(`cannot read /proc/${pid}/status: ${out.stderr}`);
  const m = out.stdout.match(new RegExp(`^${field}:\\s+(\\d+) kB$`, "m"));
  if (m === null) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(m[1]);
}

/** How many file descriptors process `pid` has open; Linux only. */
export async function openFds(pid: number): Promise<number> {
  const out = await run("ls", ["-1", `/proc/${pid}/fd`]);
  if (out.code !== 0) throw new Error(`cannot list /proc/${pid}/fd: ${out.stderr}`);
  return out.stdout.split("\n").filter((l) => l !== "").length;
}

/** The median of `xs` (the upper one for an even count). */
export function median(xs: number[]): number {
  return xs.toSorted((x, y) => x - y)[Math.floor(xs.length / 2)];
}

/**
 * `--name=value` from the command line, else the environment variable
 * `env`, else `fallback`.
 */
export function option(name: string, env: string, fallback: string): string {
  const flag = Deno.args.find((a) => a.startsWith(`--${name}=`));
  if (flag !== undefined) return flag.slice(name.length + 3);
  // Read the environment only when allowed: never prompt.
  if (Deno.permissions.querySync({ name: "env", variable: env }).state !== "granted") return fallback;
  return Deno.env.get(env) ?? fallback;
}

/** {@link option} as a positive number; throws on anything else. */
export function numberOption(name: string, env: string, fallback: number): number {
  const text = option(name, env, String(fallback));
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} (${env}) must be a positive number, got ${text}`);
  return n;
}
