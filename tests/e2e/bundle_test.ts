/**
 * The single-file build: `deno bundle --platform=deno -o <tmp>/acmems.js main.ts` (what `deno task bundle` runs,
 * with a temp output), then the bundle alone, run from outside the repository (no deno.json, no sources), prints
 * its version, checks configs/acmems.example.ini, and serves in front of pebble 2.10 (resolving via bind9): one
 * issuance with `curl --data-binary`, then SIGTERM and exit status 0.
 */
import { SubjectAlternativeNameExtension, X509Certificate } from "@peculiar/x509";
import { VERSION } from "../../src/version.ts";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../support/assert.ts";
import { makeCsr } from "../support/csr.ts";
import { startNamed } from "../support/named.ts";
import { startPebble } from "../support/pebble.ts";
import { freePort } from "../support/ports.ts";
import { type Acmems, ACMEMS_MAIN, startAcmems } from "../support/acmems.ts";
import { fileStorage, testConfig } from "../support/config.ts";
import { removeWorkDir, run } from "../support/process.ts";
import { waitForLog } from "../support/wait.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("bundle: deno bundle main.ts; the bundle runs --version, check-config and serve", async (t) => {
  const work = await Deno.makeTempDir({ prefix: "acmems-bundle-" });
  const bundle = `${work}/acmems.js`;
  /** `deno run -A <bundle> ARGS` from the temp dir, outside the repository. */
  const runBundle = (args: string[]) =>
    run(Deno.execPath(), ["run", "-A", "--quiet", bundle, ...args], { cwd: work, env: { NO_COLOR: "1" } });
  try {
    await t.step("deno bundle --platform=deno -o <tmp>/acmems.js main.ts", async () => {
      const started = Date.now();
      const built = await run(Deno.execPath(), ["bundle", "--platform=deno", "-o", bundle, ACMEMS_MAIN], {
        cwd: ROOT,
        env: { NO_COLOR: "1" },
      });
      assertEquals(built.code, 0, built.output);
      const text = await Deno.readTextFile(bundle);
      // Self-contained: only Deno's node: built-ins are imported, nothing from the repository, npm: or jsr:.
      const imports = [...text.matchAll(/^\s*import\b[^;]*?\bfrom\s+"([^"]+)"/gm)].map((m) => m[1]);
      assertEquals(imports.filter((s) => !s.startsWith("node:")), [], "the bundle imports other modules");
      console.log(`bundle: ${text.length} bytes in ${Date.now() - started} ms`);
    });

    await t.step("acmems.js --version", async () => {
      const r = await runBundle(["--version"]);
      assertEquals([r.code, r.stdout], [0, `acmems ${VERSION}\n`], r.output);
    });

    await t.step("acmems.js check-config configs/acmems.example.ini", async () => {
      const r = await runBundle(["check-config", `${ROOT}configs/acmems.example.ini`]);
      assertEquals(r.code, 0, r.output);
      assertStringIncludes(r.stdout, "Config is valid");
      // Secrets stay hidden in the bundle's summary too.
      assert(!r.output.includes("A1YP67armNf3cBrecyJHdb035"), "the example hmac_key is shown");
      const json = await runBundle(["check-config", "--json", `${ROOT}configs/acmems.example.ini`]);
      assertEquals(json.code, 0, json.output);
      assertEquals(JSON.parse(json.stdout).ok, true);
    });

    await t.step("acmems.js serve: one issuance with curl --data-binary, SIGTERM exits 0", async () => {
      const named = await startNamed();
      let proc: Acmems | undefined;
      try {
        const pebble = await startPebble({ dnsServer: named.address });
        try {
          const dir = `${work}/serve`;
          await Deno.mkdir(dir);
          const mgmtPort = await freePort();
          const url = `http://127.0.0.1:${mgmtPort}`;
          proc = await startAcmems({
            entry: bundle,
            dir,
            config: testConfig({
              ca: pebble,
              mgmtPort,
              httpPort: pebble.httpPort,
              logging: { level: "info", destination: "acmems.log" },
              storages: { cache: fileStorage("cache") },
            }),
            outputFile: `${dir}/acmems.out`,
            ready: { url: `${url}/ready` },
          });

          const csr = await makeCsr({ names: ["bundle.example.test"], dir });
          const started = Date.now();
          const curl = await run("curl", [
            "-sS",
            "--fail",
            "--max-time",
            "60",
            "-D",
            `${dir}/headers.txt`,
            "--data-binary",
            `@${csr.csrFile}`,
            `${url}/sign`,
          ]);
          assertEquals(curl.code, 0, curl.output);
          console.log(`bundle: issuance in ${Date.now() - started} ms`);
          assertMatch(await Deno.readTextFile(`${dir}/headers.txt`), /^x-acmems-cache: miss\r?$/im);
          const pems: string[] = curl.stdout.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
          assert(pems.length >= 2, `expected a chain, got ${pems.length} certificate(s)`);
          const leaf = new X509Certificate(pems[0]);
          const san = leaf.getExtension(SubjectAlternativeNameExtension);
          assertEquals(san?.names.items.map((n) => n.value), ["bundle.example.test"]);
          // The certificate's key is the CSR's key.
          const csrKey = await run("openssl", ["pkey", "-in", csr.keyFile, "-pubout"]);
          assertEquals(csrKey.code, 0, csrKey.output);
          const certKey = await run("openssl", ["x509", "-noout", "-pubkey"], { stdin: pems[0] });
          assertEquals(certKey.stdout, csrKey.stdout);

          const status = await proc.stop(10_000);
          assertEquals([status.code, status.signal], [0, null], await proc.logTail());
          const [stopping] = await waitForLog(`${dir}/acmems.log`, / INFO +stopping /);
          assertStringIncludes(stopping, "reason=SIGTERM");
          await waitForLog(`${dir}/acmems.log`, / INFO +stopped$/);
        } finally {
          await proc?.stop();
          await pebble.stop();
        }
      } finally {
        await named.stop();
      }
    });
  } finally {
    await removeWorkDir(work);
  }
});
