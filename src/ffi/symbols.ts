/**
 * The native library's exports, as generated from the Zig sources by
 * `zig build abi` into abi.gen.ts (the one place the TypeScript side learns
 * the ABI; CI fails when it is stale).
 *
 * @module
 */
import type { symbols } from "./abi.gen.ts";

export { ABI_VERSION, Kind, symbols } from "./abi.gen.ts";

/** The bound library. @internal */
export type Lib = Deno.DynamicLibrary<typeof symbols>["symbols"];
