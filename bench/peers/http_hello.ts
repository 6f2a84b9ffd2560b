/**
 * The handler module of avx's side of bench/compare_http.ts and
 * bench/idle_memory.ts, run by every worker isolate of `serve`: the
 * TechEmpower-style plaintext "hello" (a string reply is sent as 200,
 * `text/plain;charset=UTF-8`).
 *
 * @module
 */
import type { HttpReply } from "../../mod.ts";

/** The body every HTTP server of the comparisons answers. */
export const HELLO = "Hello, World!";

/** Answer every request with {@link HELLO}. */
export default function hello(): HttpReply {
  return HELLO;
}
