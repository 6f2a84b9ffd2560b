/**
 * Runs the pinned Zig: `deno run -A scripts/zig.ts build test`.
 *
 * @module
 */
import { runZig } from "./toolchain.ts";

await runZig(Deno.args);
