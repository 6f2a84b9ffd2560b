/**
 * A whole program for the "process exits" test: start a runtime, run
 * tasks, shut down, and fall off the end. The test fails if it hangs.
 *
 * @module
 */
import { Runtime } from "../../mod.ts";

const tasks = new URL("./tasks.ts", import.meta.url).href;
const rt = await Runtime.create({ workerThreads: 2 });
const parts = await Promise.all(Array.from({ length: 100 }, (_, i) => rt.spawn<number>(tasks, "add", i, 0)));
// One task still running at shutdown.
rt.spawn(tasks, "spin", 50);
await rt.shutdown({ timeout: 0 });
console.log(`result ${parts.reduce((a, b) => a + b, 0)}`);
