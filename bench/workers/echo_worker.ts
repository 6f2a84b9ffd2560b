/// <reference lib="deno.worker" />
/**
 * Replies to every message with the same data: the postMessage round trip
 * baseline of bench/runtime_bench.ts.
 *
 * @module
 */
self.onmessage = (e: MessageEvent) => self.postMessage(e.data);
