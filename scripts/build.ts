/**
 * Builds libavx (ReleaseFast) into zig-out/lib, fetching the pinned Zig
 * first if needed.
 *
 * @module
 */
import { runZig } from "./toolchain.ts";

await runZig(["build", ...Deno.args]);
