/**
 * A whole program for the "failures nobody awaits are reported" tests: it
 * spawns a task that throws and drops its handle, in the way `Deno.args[0]`
 * names, waits for the outcome and shuts down.
 *
 * - `dropped`: nothing handles it; Deno must report it and exit non-zero.
 * - `listener`: an `unhandledrejection` listener sees it and prevents the
 *   default; prints `reported <code> <message>`.
 * - `caught`: the handle has a `catch` attached (the documented opt-out).
 * - `aborted`: `abort()` was called on it; not a failure to report.
 * - `shutdown`: still running at shutdown (`CLOSED`); not reported.
 *
 * @module
 */
import { type AvxError, Runtime } from "../../mod.ts";

const mode = Deno.args[0];
const tasks = new URL("./tasks.ts", import.meta.url).href;

// Resolved by the `unhandledrejection` listener.
let seen: () => void = () => {};
const reported = new Promise<void>((r) => seen = r);
if (mode === "listener") {
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    const reason = e.reason as AvxError;
    console.log(`reported ${reason.code} ${reason.message}`);
    seen();
  });
}

const rt = await Runtime.create({ workerThreads: 1 });
if (mode === "aborted") {
  const h = rt.spawn(tasks, "spin", 20);
  h.abort();
} else if (mode === "shutdown") {
  rt.spawn(tasks, "spin", 50);
} else {
  const h = rt.spawn(tasks, "throwsType", "boom from a task");
  if (mode === "caught") h.catch(() => {});
}
if (mode === "dropped") {
  // Deno ends the program when the failure arrives; "end" means it did not.
  await new Promise((r) => setTimeout(r, 20_000));
} else if (mode === "listener") {
  await reported;
} else if (mode !== "shutdown") {
  // One worker runs tasks in order: once this one is back, the first has
  // ended too, and a few turns of the event loop would let a report happen.
  await rt.spawn(tasks, "add", 1, 2);
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
}
await rt.shutdown({ timeout: 0 });
console.log("end");
