/**
 * scripts/test.sh's last line ("N passed, N failed") is what CI reads: a test or a test STEP that deno ignored (as
 * `HA_ONLY` does to the PostgreSQL suite's steps) must count as a failure, and the exit status must say so too.
 * Each case runs the real script on a tiny test file in a temp dir.
 */
import { assertEquals } from "../../support/assert.ts";

const SCRIPT = new URL("../../../scripts/test.sh", import.meta.url).pathname;

async function runTestSh(source: string): Promise<{ code: number; last: string }> {
  const dir = await Deno.makeTempDir({ prefix: "acmems-test-sh-" });
  try {
    const file = `${dir}/fixture_test.ts`;
    await Deno.writeTextFile(file, source);
    const out = await new Deno.Command("bash", {
      args: [SCRIPT, file],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const text = new TextDecoder().decode(out.stdout).trimEnd().split("\n");
    return { code: out.code, last: text[text.length - 1] };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("scripts/test.sh: an ignored step counts as a failure", async () => {
  const r = await runTestSh(`
Deno.test("suite", async (t) => {
  await t.step("runs", () => {});
  await t.step({ name: "skipped", ignore: true, fn: () => {} });
  await t.step({ name: "skipped too", ignore: true, fn: () => {} });
});
`);
  assertEquals(r.last, "1 passed, 2 failed");
  assertEquals(r.code, 1);
});

Deno.test("scripts/test.sh: a suite whose only step is ignored is not '0 failed'", async () => {
  const r = await runTestSh(`
Deno.test("suite", async (t) => {
  await t.step({ name: "skipped", ignore: true, fn: () => {} });
});
`);
  assertEquals(r.last, "1 passed, 1 failed");
  assertEquals(r.code, 1);
});

Deno.test("scripts/test.sh: ignored tests and steps add up with real failures", async () => {
  const r = await runTestSh(`
Deno.test({ name: "ignored", ignore: true, fn: () => {} });
Deno.test("suite", async (t) => {
  await t.step("fails", () => { throw new Error("boom"); });
  await t.step({ name: "skipped", ignore: true, fn: () => {} });
});
Deno.test("plain", () => {});
`);
  assertEquals(r.last, "1 passed, 3 failed");
  assertEquals(r.code, 1);
});

Deno.test("scripts/test.sh: a clean run with steps says 0 failed and exits 0", async () => {
  const r = await runTestSh(`
Deno.test("suite", async (t) => {
  await t.step("one", () => {});
  await t.step("two", () => {});
});
Deno.test("plain", () => {});
`);
  assertEquals(r.last, "2 passed, 0 failed");
  assertEquals(r.code, 0);
});
