/**
 * `deno task compile` (scripts/compile.sh) embeds every module a command may load, the dynamically imported ones
 * included: deno.json's "lazy-dynamic-imports" (deno run loads an import() when it runs) must not reach deno
 * compile, or the binary would lack the subcommands and the npm packages they load. Offline: DENORT_BIN is this
 * deno (the binary it writes is not run, only the list of embedded files is read).
 */
import { assert, assertStringIncludes } from "../../support/assert.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;

Deno.test("deno task compile embeds the dynamically imported subcommands and npm packages", async () => {
  const out = await Deno.makeTempDir({ prefix: "acmems-compile-embeds-" });
  try {
    const r = await new Deno.Command("bash", {
      args: ["scripts/compile.sh", "--output", `${out}/acmems`],
      cwd: ROOT,
      env: { DENORT_BIN: Deno.execPath(), NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
    assert(r.success, text);
    // Reached only through import(): main.ts -> cli/*.ts -> src/lib/x509.ts, src/ca/psl.ts, the DNS wire format.
    for (const embedded of ["cli/", "x509/", "tldts/", "dns-packet/", "postgres/"]) {
      assertStringIncludes(text, embedded, `${embedded} embedded`);
    }
    assert(!(await Deno.stat(`${ROOT}deno.compile.json`).then(() => true, () => false)), "temp config removed");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
