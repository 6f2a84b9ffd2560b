/**
 * Small helpers for the comparison scripts: Workers, timing, reporting.
 *
 * @module
 */

/** Start a module Worker from bench/workers/. */
export function worker(name: string): Worker {
  return new Worker(new URL(`./workers/${name}`, import.meta.url), { type: "module" });
}

/** The next message from `w`. */
export function next<T = unknown>(w: Worker): Promise<T> {
  return new Promise((resolve, reject) => {
    w.addEventListener("message", (e) => resolve(e.data as T), { once: true });
    w.addEventListener("error", (e) => {
      e.preventDefault();
      reject(new Error(e.message));
    }, { once: true });
  });
}

/** One row of a comparison: a workload measured for avx and a peer. */
export interface Row {
  workload: string;
  unit: string;
  avx: number;
  peer: number;
  peerName: string;
  /** avx / peer for throughputs, peer / avx for times: > 1 means avx is ahead. */
  ratio: number;
  higherIsBetter: boolean;
}

/** Make a row, computing the ratio so that > 1 means avx is ahead. */
export function row(
  workload: string,
  unit: string,
  avx: number,
  peerName: string,
  peer: number,
  higherIsBetter: boolean,
): Row {
  const ratio = higherIsBetter ? avx / peer : peer / avx;
  return { workload, unit, avx, peer, peerName, ratio, higherIsBetter };
}

function fmt(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return n.toFixed(n < 10 ? 2 : 1);
}

/** Print rows as a table and save them as JSON under bench/out/. */
export async function report(title: string, rows: Row[], file: string): Promise<void> {
  console.log(`\n${title}`);
  console.log(
    `${"workload".padEnd(48)} ${"avx".padStart(12)} ${"peer".padStart(12)}  ${"ratio".padStart(7)}  peer`,
  );
  for (const r of rows) {
    console.log(
      `${r.workload.padEnd(48)} ${(fmt(r.avx) + " " + r.unit).padStart(12)} ${
        (fmt(r.peer) + " " + r.unit).padStart(12)
      }  ${(r.ratio.toFixed(2) + "x").padStart(7)}  ${r.peerName}`,
    );
  }
  await save(file, { title, rows });
}

/**
 * Save a benchmark record as JSON under bench/out/, with the date, the Deno
 * version and the core count.
 */
export async function save(file: string, fields: { title: string } & Record<string, unknown>): Promise<void> {
  const dir = new URL("./out/", import.meta.url);
  await Deno.mkdir(dir, { recursive: true });
  const { title, ...rest } = fields;
  const record = {
    title,
    date: new Date().toISOString(),
    deno: Deno.version.deno,
    cores: navigator.hardwareConcurrency,
    ...rest,
  };
  await Deno.writeTextFile(new URL(file, dir), JSON.stringify(record, null, 2) + "\n");
}
