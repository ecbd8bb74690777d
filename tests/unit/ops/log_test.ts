/**
 * The logger's lines (text and JSON) and how they reach a file or stderr: whole, in order, scrubbed, written before
 * anything queued after the code that logged (or, on a busy logger, within a few milliseconds), and never lost on a
 * normal exit, `Deno.exit` or an uncaught error.
 */
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";
import { createLogger, memoryLogger } from "../../../src/ops/log.ts";

const NOW = () => new Date("2026-11-27T12:00:00.123Z");
const LOG_TS = new URL("../../../src/ops/log.ts", import.meta.url).href;

function linesOf(path: string): string[] {
  const text = Deno.readTextFileSync(path);
  assert(text === "" || text.endsWith("\n"), `the file ends with a whole line: ${JSON.stringify(text.slice(-40))}`);
  return text === "" ? [] : text.slice(0, -1).split("\n");
}

Deno.test("log: text and JSON lines keep their exact form", () => {
  const text: string[] = [];
  const t = createLogger({ level: "debug", format: "text", destination: "x", now: NOW, write: (l) => text.push(l) });
  const fields = {
    client: "127.0.0.1",
    status: 200,
    names: ["a.example.test", "b.example.test"],
    outcome: "cache hit",
    durationMs: 0,
    cache: null,
    skipped: undefined,
    ratio: NaN,
    error: new Error("it broke"),
    nested: { a: 1 },
    quote: 'say "hi"',
  };
  t.info("sign", fields);
  t.warn("bare");
  assertEquals(text, [
    "2026-11-27T12:00:00.123Z INFO    sign client=127.0.0.1 status=200 names=a.example.test,b.example.test " +
    'outcome="cache hit" durationMs=0 cache=null ratio=null error="it broke" nested="{\\"a\\":1}" ' +
    'quote="say \\"hi\\""',
    "2026-11-27T12:00:00.123Z WARNING bare",
  ]);
  const json = memoryLogger("info");
  json.info("sign", { ...fields, time: "ignored", level: "ignored" });
  json.debug("not written");
  assertEquals(json.lines.length, 1);
  assertEquals(JSON.parse(json.lines[0]).level, "info");
  assertMatch(json.lines[0], /"event":"sign","client":"127\.0\.0\.1","status":200,.*"error":"it broke"/);
});

Deno.test("log: a file gets whole lines in order, written before anything queued after the logging code", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/acmems.log`;
    const log = createLogger({ level: "info", format: "text", destination: path, now: NOW, secrets: ["s3cret-key"] });
    log.info("one", { n: 1 });
    log.warn("two", { hmac: "s3cret-key" });
    log.debug("below the level");
    // The next continuation (a request's response is sent from one) finds both lines.
    await Promise.resolve();
    assertEquals(linesOf(path), [
      "2026-11-27T12:00:00.123Z INFO    one n=1",
      "2026-11-27T12:00:00.123Z WARNING two hmac=***",
    ]);
    // An error line goes out at once, after what was logged before it.
    log.info("three");
    log.error("four");
    assertEquals(linesOf(path).slice(2), [
      "2026-11-27T12:00:00.123Z INFO    three",
      "2026-11-27T12:00:00.123Z ERROR   four",
    ]);
    log.addSecrets(["later-secret"]);
    log.info("five", { token: "later-secret" });
    log.close();
    assertEquals(linesOf(path).slice(4), ["2026-11-27T12:00:00.123Z INFO    five token=***"]);
    log.info("after close"); // dropped, never thrown
    await new Promise((resolve) => setTimeout(resolve, 5));
    assertEquals(linesOf(path).length, 5);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("log: a busy logger batches its writes; lines stay whole and in order; close writes the rest", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/acmems.log`;
    const log = createLogger({ level: "info", format: "json", destination: path });
    const sent: number[] = [];
    // One line per "request", each in its own job, as a busy server logs them.
    for (let i = 0; i < 300; i++) {
      log.info("sign", { i, pad: "x".repeat(i % 7) });
      sent.push(i);
      await Promise.resolve();
    }
    const early = linesOf(path).length;
    assert(early < 300, `lines are batched once the logger is busy (${early} written at once)`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assertEquals(linesOf(path).map((l) => JSON.parse(l).i), sent, "written within milliseconds, in order");
    for (let i = 300; i < 400; i++) {
      log.info("sign", { i });
      sent.push(i);
      await Promise.resolve();
    }
    log.close(); // also clears the pending timer (the test's op sanitizer checks)
    assertEquals(linesOf(path).map((l) => JSON.parse(l).i), sent);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("log: buffered lines are written on Deno.exit, at the end of the program and on an uncaught error", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const endings: Record<string, string> = {
      "Deno.exit": "Deno.exit(3);",
      "end of the program": "",
      "uncaught error": 'setTimeout(() => { log.info("in the timer"); throw new Error("boom"); }, 1);',
      "unhandled rejection": 'Promise.reject(new Error("boom"));',
      "exit from a timer": 'setTimeout(() => { log.info("in the timer"); Deno.exit(0); }, 1);',
    };
    for (const [what, ending] of Object.entries(endings)) {
      for (const destination of ["file", "stderr"]) {
        const path = `${dir}/${what.replaceAll(" ", "-")}-${destination}.log`;
        const script = `import { createLogger } from ${JSON.stringify(LOG_TS)};
const log = createLogger({ level: "info", format: "text", destination: ${
          JSON.stringify(destination === "file" ? path : "stderr")
        } });
for (let i = 0; i < 50; i++) log.info("line", { i });
${ending}
`;
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["eval", "--quiet", script],
          stdout: "null",
          stderr: "piped",
          env: { NO_COLOR: "1" },
        }).output();
        const text = destination === "file" ? Deno.readTextFileSync(path) : new TextDecoder().decode(out.stderr);
        const lines = text.split("\n").filter((l) => / INFO +line /.test(l));
        assertEquals(lines.length, 50, `${what} (${destination}): ${text.slice(-300)}`);
        assertEquals(lines.map((l) => Number(l.match(/i=(\d+)/)?.[1])), [...Array(50).keys()], `${what}: in order`);
        if (ending.includes("in the timer")) assertMatch(text, / INFO +in the timer\n/, `${what} (${destination})`);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("log: a secret with a quote and a backslash never appears, raw or escaped, in text or JSON lines", () => {
  const secret = 'tok"en\\with-quote-and-backslash';
  const forms = [secret, JSON.stringify(secret).slice(1, -1), JSON.stringify(JSON.stringify(secret)).slice(1, -1)];
  for (const format of ["text", "json"] as const) {
    const lines: string[] = [];
    const log = createLogger({ level: "debug", format, destination: "x", now: NOW, write: (l) => lines.push(l) });
    log.addSecrets([secret]);
    log.info(`event ${secret}`, {
      plain: secret,
      inside: `url https://hooks.example/${secret}?x=1`,
      list: ["a", secret],
      nested: { deeper: { value: secret }, [secret]: 1 },
      error: new Error(`failed with ${secret}`),
    });
    assertEquals(lines.length, 1);
    for (const form of forms) assert(!lines[0].includes(form), `${format}: ${JSON.stringify(form)} in ${lines[0]}`);
    // Everything else is still there, scrubbed.
    assertMatch(lines[0], /event \*\*\*/);
    assertMatch(lines[0], /https:\/\/hooks\.example\/\*\*\*\?x=1/);
    assertMatch(lines[0], /failed with \*\*\*/);
  }
});

Deno.test("log: fields without a secret are written as the scrubbed copy would write them (Errors in arrays, deep nesting)", () => {
  for (const format of ["text", "json"] as const) {
    const lines: string[] = [];
    const log = createLogger({
      level: "info",
      format,
      destination: "x",
      secrets: ["s3cret-value"],
      now: NOW,
      write: (l) => lines.push(l),
    });
    let deep: unknown = "bottom";
    for (let i = 0; i < 10; i++) deep = { down: deep };
    log.info("e", { errors: [new Error("boom")], deep, plain: "ok", none: null });
    const line = lines[0];
    // An Error inside an array is written as its message (not "Error: boom"), as with a secret present.
    assert(line.includes("boom") && !line.includes("Error: boom"), line);
    assert(line.includes("(nested too deep)"), `the depth limit applies without a secret too: ${line}`);
    assert(!line.includes("bottom"), line);
    // And a secret is still replaced where it occurs, with the same time text on lines of the same millisecond.
    log.info("e", { names: ["a", "x-s3cret-value-y"] });
    assert(!lines[1].includes("s3cret-value") && lines[1].includes("***"), lines[1]);
    assertEquals(lines[0].slice(0, 30), lines[1].slice(0, 30));
  }
});

Deno.test("log: a value written clean before is scrubbed once it becomes a secret, and repeated lines stay exact", () => {
  const lines: string[] = [];
  const log = createLogger({
    level: "info",
    format: "text",
    destination: "x",
    secrets: ["first-secret"],
    now: NOW,
    write: (l) => lines.push(l),
  });
  const fields = { client: "10.0.0.7", names: ["a.example.test", "later-secret"], outcome: "cache hit", n: 3 };
  log.info("sign", fields);
  log.info("sign", fields); // the second line comes from the remembered clean texts
  assertEquals(lines[1], lines[0]);
  assertEquals(
    lines[0],
    '2026-11-27T12:00:00.123Z INFO    sign client=10.0.0.7 names=a.example.test,later-secret outcome="cache hit" n=3',
  );
  // A reload adds a secret that was an ordinary value until now: the next line must not show it.
  log.addSecrets(["later-secret", "10.0.0.7"]);
  log.info("sign", fields);
  assertEquals(
    lines[2],
    '2026-11-27T12:00:00.123Z INFO    sign client=*** names=a.example.test,*** outcome="cache hit" n=3',
  );
  // A secret made of clean parts (across a key and its value) is still caught by the pass over the whole line.
  log.addSecrets(['outcome="cache']);
  log.info("sign", { outcome: "cache hit" });
  assert(!lines[3].includes('outcome="cache'), lines[3]);
  // Keys are checked like values.
  log.info("sign", { "first-secret": 1 });
  assert(!lines[4].includes("first-secret"), lines[4]);
});
