// The networking demo (demo/server.ts) in its self-driving mode, run as a
// subprocess on real sockets: a few simulated clients talk for a moment,
// then the demo prints its summary, shuts both servers down and exits.
import assert from "node:assert/strict";

const SERVER = new URL("../demo/server.ts", import.meta.url);
const CLIENTS = 3;

/** The first capture groups of `pattern` in `text`, or a failure showing the output. */
function find(text: string, pattern: RegExp): string[] {
  const m = pattern.exec(text);
  assert.ok(m, `no match for ${pattern} in the demo's output:\n${text}`);
  return m.slice(1);
}

Deno.test("demo: every simulated chat client gets every line, /stats answers, both servers shut down cleanly", async () => {
  const { code, signal, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-ffi",
      "--allow-read",
      "--allow-env",
      "--allow-net=127.0.0.1",
      SERVER.href,
      "--chat-port=0",
      "--http-port=0",
      "--workers=2",
      `--demo-clients=${CLIENTS}`,
      "--duration=2",
      "--rate=10",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    // Generous: the run takes a few seconds; this only stops a hung demo.
    signal: AbortSignal.timeout(120_000),
  }).output();
  const out = new TextDecoder().decode(stdout);
  const err = new TextDecoder().decode(stderr);
  const shown = `exit code ${code}${signal ? `, signal ${signal}` : ""}\n--- stdout\n${out}--- stderr\n${err}`;
  assert.equal(code, 0, shown);
  assert.equal(err, "", shown);

  const [sent] = find(out, /^ {2}sent +(\d+) chat lines/m).map(Number);
  assert.ok(sent > 0, shown);
  const [lines, clients, min, max, missed, disorder] = find(
    out,
    /^ {2}delivered +(\d+) lines to each of (\d+) clients?: got min (\d+) max (\d+), missed (\d+), out of order (\d+)/m,
  ).map(Number);
  assert.deepEqual({ lines, clients, min, max, missed, disorder }, {
    lines: sent,
    clients: CLIENTS,
    min: sent,
    max: sent,
    missed: 0,
    disorder: 0,
  }, shown);

  const [who] = find(out, /^ {2}\/who +\* online \(\d+\): (.*)$/m);
  assert.deepEqual(who.split(", ").sort(), ["bot-0", "bot-1", "bot-2"], shown);

  const [stats] = find(out, /^ {2}GET \/stats +200 (\{.*\})$/m);
  const parsed = JSON.parse(stats);
  assert.equal(parsed.messages, sent, shown);
  assert.equal(parsed.online, CLIENTS, shown);
  assert.ok(parsed.requests >= 1, shown);
  assert.ok(parsed.delivered >= sent * CLIENTS, shown);

  find(out, /^ {2}GET \/history 200 3 lines, last: bot-\d+: #\d+ /m);
  find(out, /^ {2}result +every client got every line, in order; HTTP answered$/m);
  assert.match(out, /\nstopped\n$/, shown);
});
