// Runs in a subprocess: a Worker's first wait claims the start of the bell
// relay and the Worker closes itself before the relay exists. This isolate
// then waits: its wait completes, and the program exits on its own (it
// hung forever when an isolate kept a channel open for a relay that never
// came). Prints "ok <json>".
import { sleep } from "../../mod.ts";

const mod = new URL("../../mod.ts", import.meta.url).href;
const src = `import { sleep } from ${JSON.stringify(mod)}; sleep(1); self.close();`;
new Worker(`data:text/javascript,${encodeURIComponent(src)}`, { type: "module" });
await new Promise((r) => setTimeout(r, 300));
const t0 = performance.now();
await sleep(20);
console.log("ok " + JSON.stringify({ slept: performance.now() - t0 >= 20 }));
