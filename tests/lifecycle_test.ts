/**
 * Workers end at any moment: terminated, closing themselves or throwing,
 * with avx waits of every kind pending. Each scenario runs in a subprocess,
 * so that a crash (the process dying of SIGSEGV) fails the test instead of
 * the test runner.
 */
import assert from "node:assert/strict";

function libName(): string {
  return Deno.build.os === "windows" ? "avx.dll" : Deno.build.os === "darwin" ? "libavx.dylib" : "libavx.so";
}

async function run(script: string, arg: string, timeoutMs = 240_000): Promise<Record<string, unknown>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL(`./lifecycle/${script}`, import.meta.url).pathname, arg],
    env: { AVX_LIB_PATH: new URL("../zig-out/lib/", import.meta.url).pathname + libName() },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutMs),
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `${script} exited ${out.code} (signal ${out.signal}):\n${stdout}\n${stderr.slice(-2000)}`);
  const line = stdout.split("\n").find((l) => l.startsWith("ok "));
  assert.ok(line, `${script}: no result line:\n${stdout}`);
  return JSON.parse(line!.slice(3));
}

Deno.test("lifecycle: Workers ended (terminate, close, throw) with every kind of wait pending: no crash, nothing lost", async () => {
  // 10 rounds x 7 kinds of wait x 3 ways to end. Before the bell, the first
  // few rounds crashed the process (a doorbell calling into a dead isolate).
  const r = await run("churn.ts", "10");
  assert.equal(r.ended, 210);
  assert.equal(r.queues, r.queuesBefore, "every ended Worker's completion queue is closed");
  assert.equal(r.task, 42);
  assert.equal(r.body, "Hello, World!");
});

Deno.test("lifecycle: 1,000 short-lived Workers awaiting avx, then a Runtime and a server still start", async () => {
  // Completion queues have 256 slots: before their threads' exit closed
  // them, the 256th Worker exhausted the table for good.
  const r = await run("short_lived.ts", "1000");
  assert.equal(r.queues, r.queuesBefore);
  assert.equal(r.task, 8);
  assert.equal(r.body, "Hello, World!");
});

Deno.test("lifecycle: 200 Runtime cycles leave descriptors, threads and queues where they were", async () => {
  if (Deno.build.os !== "linux") return; // counts read from /proc and ps
  const r = await run("runtime_cycles.ts", "200") as {
    before: { fds: number; threads: number; queues: number };
    after: { fds: number; threads: number; queues: number };
  };
  assert.ok(r.after.fds <= r.before.fds, JSON.stringify(r));
  assert.ok(r.after.threads <= r.before.threads, JSON.stringify(r));
  assert.equal(r.after.queues, r.before.queues);
});

for (const end of ["close", "terminate"]) {
  Deno.test(`lifecycle: the bell relay started by a Worker that then ends (${end}): waits still complete, a new registration holds`, async () => {
    const r = await run("relay_parent.ts", end);
    assert.equal(r.startedByWorker, 1, "the Worker started the relay");
    assert.equal(r.registered, 1, "this isolate is registered with a running relay again");
    assert.equal(r.ready, 1);
  });
}

Deno.test("lifecycle: a Worker with two copies of the module has both queues closed when it ends; the lock passes on", async () => {
  const r = await run("two_copies.ts", "");
  assert.equal(r.during, (r.before as number) + 2, JSON.stringify(r));
  assert.equal(r.after, r.before, JSON.stringify(r));
});

Deno.test("lifecycle: a relay start claimed by a Worker that closed at once: waits complete, the program exits", async () => {
  // A hang is the failure: the subprocess is aborted after 30 s.
  const r = await run("stuck_claim.ts", "", 30_000);
  assert.equal(r.slept, true);
});
