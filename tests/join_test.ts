/**
 * A JoinHandle whose task fails and that nobody awaits is reported the way
 * Deno reports any unhandled rejection (unless the program opted out).
 * Each case is a whole program: an unhandled rejection ends it.
 */
import assert from "node:assert/strict";

async function run(mode: string): Promise<{ code: number; text: string }> {
  const script = new URL("./tasks/unhandled_main.ts", import.meta.url);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-ffi", "--allow-env", "--allow-read", script.pathname, mode],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, text };
}

Deno.test("join: a failed task nobody awaits is an unhandled rejection: Deno prints it and exits", async () => {
  const { code, text } = await run("dropped");
  assert.notEqual(code, 0, text);
  assert.match(text, /Uncaught \(in promise\)/);
  assert.match(text, /boom from a task/);
  assert.doesNotMatch(text, /^end$/m);
});

Deno.test("join: the unhandledrejection event sees a dropped failure", async () => {
  const { code, text } = await run("listener");
  assert.equal(code, 0, text);
  assert.match(text, /reported TASK_FAILED boom from a task/);
  assert.match(text, /^end$/m);
});

for (const mode of ["caught", "aborted", "shutdown"]) {
  Deno.test(`join: not reported when ${mode}`, async () => {
    const { code, text } = await run(mode);
    assert.equal(code, 0, text);
    assert.doesNotMatch(text, /Uncaught|reported/);
    assert.match(text, /^end$/m);
  });
}
