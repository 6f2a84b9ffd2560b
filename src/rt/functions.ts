/**
 * Task functions by id: the spawner registers "URL#export" once per
 * process (native/rt/registry.zig) and sends 4 bytes per task; a worker
 * resolves an id to its function once, importing the module.
 *
 * @module
 */
import { lib } from "../ffi/library.ts";
import { AvxError, Status } from "../errors.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// moduleUrl as given -> export name -> id.
const ids = new Map<string, Map<string, number>>();

/** The id of `exportName` of `moduleUrl`, registering it on first use. @internal */
export function functionId(moduleUrl: string | URL, exportName: string, what: string): number {
  const key = typeof moduleUrl === "string" ? moduleUrl : moduleUrl instanceof URL ? moduleUrl.href : undefined;
  if (key === undefined) {
    throw new AvxError("INVALID_ARGUMENT", `${what}: moduleUrl must be a string or URL, got ${typeof moduleUrl}`);
  }
  const known = ids.get(key)?.get(exportName);
  if (known !== undefined) return known;
  if (typeof exportName !== "string" || exportName.length === 0) {
    throw new AvxError("INVALID_ARGUMENT", `${what}: exportName must be a non-empty string`);
  }
  let url: URL;
  try {
    url = new URL(key);
  } catch {
    throw new AvxError(
      "INVALID_ARGUMENT",
      `${what}: moduleUrl must be an absolute URL, got ${JSON.stringify(key)} ` +
        `(use new URL("./tasks.ts", import.meta.url))`,
    );
  }
  const name = encoder.encode(`${url.href}#${exportName}`);
  const id = lib().avx_fn_register(name, name.length);
  if (id < 0) throw AvxError.fromStatus(id, `${what}: registering ${url.href}#${exportName}`);
  let byExport = ids.get(key);
  if (byExport === undefined) ids.set(key, byExport = new Map());
  byExport.set(exportName, id);
  return id;
}

// deno-lint-ignore no-explicit-any
export type TaskFunction = (...args: any[]) => unknown;

const functions = new Map<number, TaskFunction>();
const loading = new Map<number, Promise<TaskFunction>>();

/** The function behind `id` if this isolate has resolved it already. @internal */
export function knownFunction(id: number): TaskFunction | undefined {
  return functions.get(id);
}

/** Import the module behind `id` and find its export (once per isolate). @internal */
export function loadFunction(id: number): Promise<TaskFunction> {
  let p = loading.get(id);
  if (p === undefined) {
    p = load(id);
    loading.set(id, p);
    // A failure is not cached: the module may load next time.
    p.catch(() => loading.delete(id));
  }
  return p;
}

function nameOf(id: number): string {
  let buf = new Uint8Array(1024);
  let n = lib().avx_fn_name(id, buf, buf.length);
  if (n === Status.BUFFER_TOO_SMALL) {
    buf = new Uint8Array(lib().avx_last_value());
    n = lib().avx_fn_name(id, buf, buf.length);
  }
  if (n < 0) throw AvxError.fromStatus(n, `task function ${id}`);
  return decoder.decode(buf.subarray(0, n));
}

async function load(id: number): Promise<TaskFunction> {
  const name = nameOf(id);
  const hash = name.lastIndexOf("#");
  const url = name.slice(0, hash);
  const exportName = name.slice(hash + 1);
  let module: Record<string, unknown>;
  try {
    module = await import(url);
  } catch (e) {
    throw new AvxError("INVALID_ARGUMENT", `cannot load task module ${url}: ${(e as Error).message}`);
  }
  if (!(exportName in module)) {
    throw new AvxError("INVALID_ARGUMENT", `task module ${url} has no export named "${exportName}"`);
  }
  const fn = module[exportName];
  if (typeof fn !== "function") {
    throw new AvxError(
      "INVALID_ARGUMENT",
      `export "${exportName}" of ${url} is not a function (it is ${fn === null ? "null" : typeof fn})`,
    );
  }
  functions.set(id, fn as TaskFunction);
  return fn as TaskFunction;
}
