/**
 * `deno task compile` (scripts/compile.sh) where denort cannot be downloaded and DENORT_BIN is not set: a clear
 * message (what DENORT_BIN is, where denort comes from, the bundle as the offline way) instead of Deno's backtrace.
 * The download is made to fail on any machine by a proxy address where nothing listens.
 */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("deno task compile without access to denort explains DENORT_BIN and the bundle", async () => {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(Deno.env.toObject())) if (k !== "DENORT_BIN") env[k] = v;
  Object.assign(env, {
    HTTPS_PROXY: "http://127.0.0.1:9",
    https_proxy: "http://127.0.0.1:9",
    NO_PROXY: "",
    no_proxy: "",
  });
  const out = `${await Deno.makeTempDir({ prefix: "acmems-compile-" })}`;
  try {
    const child = new Deno.Command("bash", {
      args: ["scripts/compile.sh", "--output", `${out}/acmems`],
      cwd: ROOT,
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    });
    const r = await child.output();
    const text = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
    assertEquals(r.code, 1, text);
    assertStringIncludes(text, "could not download denort from https://dl.deno.land/");
    assertStringIncludes(text, "DENORT_BIN=/path/to/denort deno task compile");
    assertStringIncludes(text, "deno task bundle");
    assertStringIncludes(text, "deno run -A dist/acmems.js serve");
    assert(!text.includes("Stack backtrace"), text);
    assert(!text.includes("tcp connect error"), text);
    assertEquals(await Deno.stat(`${out}/acmems`).then(() => true, () => false), false, "no binary");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
