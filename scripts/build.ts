/**
 * Builds libavx (ReleaseSafe: assertions and safety checks ship) into
 * zig-out/lib, fetching the pinned Zig first if needed. Arguments go to
 * `zig build` (`-Doptimize=ReleaseFast` for the unchecked build).
 *
 * @module
 */
import { runZig } from "./toolchain.ts";

await runZig(["build", ...Deno.args]);
