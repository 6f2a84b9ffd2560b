/**
 * Fuzzing the public API: tests/fuzz/driver.ts calls random functions of
 * mod.ts with wrong types and extreme values, in a subprocess (a crash is
 * seen as one), bounded in time (a hang is seen as one). The seed is
 * printed; set `AVX_FUZZ_SEED` to replay a run, `AVX_FUZZ_CALLS` for its
 * length, `AVX_FUZZ_ONLY=<regex>` to narrow it, `AVX_FUZZ_TRACE=1` to see
 * each call.
 */
import assert from "node:assert/strict";

Deno.test("fuzz: random calls with bad arguments only fail with typed errors, and every wait ends", async () => {
  const seed = Deno.env.get("AVX_FUZZ_SEED") ?? String(Math.floor(Math.random() * 2 ** 32));
  console.log(`AVX_FUZZ_SEED=${seed}`);
  const env: Record<string, string> = { AVX_FUZZ_SEED: seed };
  for (const k of ["AVX_FUZZ_CALLS", "AVX_FUZZ_ONLY", "AVX_FUZZ_TRACE", "AVX_LIB_PATH"]) {
    const v = Deno.env.get(k);
    if (v !== undefined) env[k] = v;
  }
  const driver = new URL("./fuzz/driver.ts", import.meta.url);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-ffi", "--allow-env", "--allow-read", "--allow-net=127.0.0.1", driver.pathname],
    env,
    stdout: "piped",
    stderr: "piped",
    // A bound, not a measurement: a run takes well under a second.
    signal: AbortSignal.timeout(60_000),
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.signal, null, `the fuzz program died (seed ${seed}):\n${text}`);
  assert.equal(out.code, 0, `seed ${seed}:\n${text}`);
  assert.match(text, /fuzz ok/);
});
