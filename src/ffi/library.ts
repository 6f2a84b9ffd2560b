/**
 * Finds and opens libavx, once per isolate.
 *
 * Where it looks, in order:
 * 1. the path in the `AVX_LIB_PATH` environment variable;
 * 2. the project's own build output, `zig-out/lib/` beside this package
 *    (what `deno task build` produces).
 *
 * The handle is never closed: native threads of the library may be running
 * at any time, and unloading it under them would crash the process.
 *
 * @module
 */
import { ABI_VERSION, type Lib, symbols } from "./symbols.ts";
import { AvxError } from "../errors.ts";

let bound: Lib | undefined;
let boundPath: string | undefined;

function fileName(): string {
  switch (Deno.build.os) {
    case "windows":
      return "avx.dll";
    case "darwin":
      return "libavx.dylib";
    default:
      return "libavx.so";
  }
}

function envPath(): string | undefined {
  try {
    return Deno.env.get("AVX_LIB_PATH") || undefined;
  } catch {
    // No --allow-env: fall through to the build output.
    return undefined;
  }
}

function candidates(): string[] {
  const out: string[] = [];
  const env = envPath();
  if (env) out.push(env);
  const local = new URL(`../../zig-out/lib/${fileName()}`, import.meta.url);
  if (local.protocol === "file:") {
    const path = decodeURIComponent(local.pathname);
    // file:///C:/x -> C:/x on Windows.
    out.push(Deno.build.os === "windows" ? path.replace(/^\/([A-Za-z]:)/, "$1") : path);
  }
  return out;
}

/** The library's symbols, opening it on first use. @internal */
export function lib(): Lib {
  if (bound) return bound;
  const tried: string[] = [];
  for (const path of candidates()) {
    let opened: Deno.DynamicLibrary<typeof symbols>;
    try {
      opened = Deno.dlopen(path, symbols);
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) throw e;
      tried.push(`${path} (${e instanceof Error ? e.message.split("\n")[0] : e})`);
      continue;
    }
    const abi = opened.symbols.avx_init();
    if (abi !== ABI_VERSION) {
      throw new AvxError(
        "ABI_MISMATCH",
        `${path} has ABI version ${abi}, this module expects ${ABI_VERSION}: rebuild it with \`deno task build\``,
      );
    }
    bound = opened.symbols;
    boundPath = path;
    return bound;
  }
  throw new AvxError(
    "LIBRARY_NOT_FOUND",
    `libavx not found (tried: ${tried.join("; ") || "nothing"}). ` +
      "Build it with `deno task build` (or `zig build` with Zig 0.15.2), " +
      "or set AVX_LIB_PATH to the library's path.",
  );
}

/** The path the library was opened from (opening it if needed). @internal */
export function libraryPath(): string {
  lib();
  return boundPath!;
}
