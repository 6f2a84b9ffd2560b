// What the lifecycle scenarios share: waiting for ended Workers' queues to
// be closed by their threads' exit, and checking that a Runtime and a
// server still start afterwards.
import { Runtime, serve, sleep } from "../../mod.ts";
import { lib } from "../../src/ffi/library.ts";

/** Open completion queues of the process. */
export function openQueues(): number {
  return lib().avx_cq_open_count();
}

/**
 * Open queues once they are back to `before`, polled every 10 ms for at
 * most `rounds` polls (what is left then is returned: the caller asserts).
 */
export async function queuesSettled(before: number, rounds: number): Promise<number> {
  let queues = openQueues();
  for (let i = 0; i < rounds && queues > before; i++) {
    await sleep(10);
    queues = openQueues();
  }
  return queues;
}

/** Start a Runtime and a server, run one task and one request: their results. */
export async function runtimeAndServerStart(
  x: number,
  serverWorkers: number,
): Promise<{ task: number; body: string }> {
  await using rt = await Runtime.create({ workerThreads: 2 });
  const task = await rt.spawn<number>(new URL("../tasks/tasks.ts", import.meta.url).href, "doubleLater", x);
  await using server = await serve(
    { hostname: "127.0.0.1", port: 0, workers: serverWorkers },
    new URL("../net/handlers.ts", import.meta.url).href,
    "default",
  );
  const body = await (await fetch(`http://127.0.0.1:${server.addr.port}/`)).text();
  return { task, body };
}
