/**
 * The test tiers' knobs refuse values that would make a tier run nothing (FUZZ_CASES=0, LOAD_SECONDS<=1) or that
 * are not numbers, instead of passing without testing. The last two tests load the real test files in a `deno test`
 * subprocess: the refusal happens at module load, before any peer starts.
 */
import { assert, assertEquals, assertStringIncludes, assertThrows } from "../../support/assert.ts";
import { parseIntKnob } from "../../support/knobs.ts";

Deno.test("parseIntKnob: fallback when unset or blank, integers at or above min", () => {
  const opts = { fallback: 7, min: 1 };
  assertEquals(parseIntKnob("K", undefined, opts), 7);
  assertEquals(parseIntKnob("K", " ", opts), 7);
  assertEquals(parseIntKnob("K", "1", opts), 1);
  assertEquals(parseIntKnob("K", " 5000 ", opts), 5000);
});

Deno.test("parseIntKnob: refuses below min, fractions and non-numbers, naming the knob", () => {
  const opts = { fallback: 7, min: 2, why: "it would test nothing" };
  for (const text of ["0", "1", "-3", "1.5", "abc", "10s", "0x10", "1e3", "Infinity", "NaN", "99999999999999999"]) {
    const e = assertThrows(() => parseIntKnob("LOAD_SECONDS", text, opts));
    assertStringIncludes(e.message, `LOAD_SECONDS=${JSON.stringify(text)}`);
    assertStringIncludes(e.message, "expected an integer >= 2 (it would test nothing)");
  }
});

async function denoTest(file: string, env: Record<string, string>): Promise<{ code: number; output: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-all", new URL(file, import.meta.url).pathname],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, output: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

Deno.test("FUZZ_CASES=0 and FUZZ_CASES=abc fail the fuzz tier instead of running no case", async () => {
  for (const value of ["0", "abc"]) {
    const r = await denoTest("../../fuzz/authentication_header_fuzz_test.ts", { FUZZ_CASES: value });
    assert(r.code !== 0, `FUZZ_CASES=${value}: the fuzz file passed:\n${r.output}`);
    assertStringIncludes(r.output, `FUZZ_CASES=${JSON.stringify(value)}: expected an integer >= 1`);
  }
});

Deno.test("LOAD_SECONDS=1 and LOAD_SECONDS=ten fail the load tier before starting anything", async () => {
  for (const value of ["1", "ten"]) {
    const r = await denoTest("../../load/load_test.ts", { LOAD_SECONDS: value });
    assert(r.code !== 0, `LOAD_SECONDS=${value}: the load file passed:\n${r.output}`);
    assertStringIncludes(r.output, `LOAD_SECONDS=${JSON.stringify(value)}: expected an integer >= 2`);
  }
});
