/**
 * `acmems revoke` with two CAs (two real pebbles A and B; the auth block's `ca = b`, so B issues): the revocation goes
 * to the CA that issued the certificate, found from its cache entry, or the one `--ca NAME` names.
 *
 * - `--ca` naming no CA → exit 1, the message lists the CAs; nothing is asked of either CA.
 * - B's certificate as PEM, no `--ca` → the file storage's entry says B: revoked at B (pebble B: Revoked), the entry
 *   removed.
 * - `--ca a` for B's certificate → A refuses: exit 1, B's certificate still valid.
 * - the cache entry file (`<key>.json`) as `--cert`, no `--ca` → its `directoryUrl` says B: revoked at B.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../support/assert.ts";
import { startAcmems } from "../../support/acmems.ts";
import { type ConfigSpec, http01 } from "../../support/config.ts";
import { makeCsr } from "../../support/csr.ts";
import { postSign } from "../../support/http.ts";
import type { Pebble } from "../../support/pebble.ts";
import { Cleanup } from "../../support/stack.ts";
import { caSection, intermediateOf, pemBody, startTwoCas } from "./_two_cas.ts";
import { parseRevokeArgs, runRevoke } from "../../../cli/revoke.ts";
import { pebbleCertStatus, serialOf } from "../acme_clients/checks.ts";

async function revoke(args: string[]): Promise<{ code: number; text: string }> {
  const lines: string[] = [];
  const out = { info: (l: string) => lines.push(l), error: (l: string) => lines.push(l) };
  const code = await runRevoke(parseRevokeArgs(args), out);
  return { code, text: lines.join("\n") };
}

/** pebble's view of the leaf in `certFile`: "Valid" or "Revoked". */
const status = async (pebble: Pebble, certFile: string) =>
  (await pebbleCertStatus(pebble, await serialOf(certFile))).Status;

/** The file storage's entry (`<key>.json` in `dir`) whose chain is `chain`. */
async function entryFileOf(dir: string, chain: string): Promise<string> {
  for await (const file of Deno.readDir(dir)) {
    if (!file.name.endsWith(".json")) continue;
    const entry = JSON.parse(await Deno.readTextFile(`${dir}/${file.name}`));
    if (entry.chain === chain) return `${dir}/${file.name}`;
  }
  throw new Error(`no cache entry in ${dir} holds the chain`);
}

Deno.test("acmems revoke with two CAs: at the CA its cache entry records, or --ca NAME", async (t) => {
  const cleanup = new Cleanup();
  const work = await Deno.makeTempDir({ prefix: "acmems-revoke-cas-" });
  cleanup.add(() => Deno.remove(work, { recursive: true }));
  try {
    const { a, b, httpPort, mgmtPort } = await startTwoCas(cleanup);
    const config: ConfigSpec = {
      comment: "acmems: two CAs, revocation from the command line",
      cas: { a: caSection(a, "account-a"), b: caSection(b, "account-b") },
      mgmt: { listener: `127.0.0.1:${mgmtPort}`, "sign-timeout": "60s" },
      verifications: { http: http01(httpPort) },
      storages: { cache: { type: "file", directory: "cache" } },
      auth: { local: { ip: "127.0.0.1", domain: "*.example.test", ca: "b" } },
    };
    const acmems = await startAcmems({ config, dir: work });
    cleanup.add(() => acmems.stop());
    const issueAtB = async (name: string) => {
      const csr = await makeCsr({ names: [name] });
      const answer = await postSign(acmems.mgmtUrl, csr.csrPem);
      assertEquals(answer.status, 200, answer.body);
      assertEquals(intermediateOf(answer.body), pemBody(await b.intermediatePem()), "B issued it");
      const file = `${work}/${name}.pem`;
      await Deno.writeTextFile(file, answer.body);
      return { chain: answer.body, file };
    };
    const first = await issueAtB("one.example.test");
    const second = await issueAtB("two.example.test");

    await t.step("--ca naming no CA: exit 1, the CAs listed, nothing revoked", async () => {
      const { code, text } = await revoke(["--cert", first.file, "--ca", "c", acmems.configFile]);
      assertEquals(code, 1, text);
      assertStringIncludes(text, '--ca "c" names no CA');
      assertStringIncludes(text, "the CAs there are a, b");
      assertEquals(await status(b, first.file), "Valid");
    });

    await t.step("B's certificate as PEM, no --ca: the cache entry says B, revoked there, entry removed", async () => {
      const entry = await entryFileOf(`${work}/cache`, first.chain);
      const { code, text } = await revoke(["--cert", first.file, acmems.configFile]);
      assertEquals(code, 0, text);
      assertStringIncludes(text, `CA "b" issued it (its cache entry records ${b.directoryUrl})`);
      assertStringIncludes(text, `at ${b.directoryUrl}`);
      assertStringIncludes(text, 'Removed the cache entry for one.example.test from storage "cache"');
      assertEquals(await status(b, first.file), "Revoked");
      await assertRejects(() => status(a, first.file), /404|not found/i); // A never issued it
      assert(!(await Deno.stat(entry).then(() => true, () => false)), "the entry is gone");
    });

    await t.step("--ca a for B's certificate: A refuses, exit 1, still valid at B", async () => {
      const { code, text } = await revoke(["--cert", second.file, "--ca", "a", acmems.configFile]);
      assertEquals(code, 1, text);
      assertStringIncludes(text, "The CA did not revoke");
      assertEquals(await status(b, second.file), "Valid");
    });

    await t.step("the cache entry file as --cert, no --ca: its directoryUrl says B, revoked there", async () => {
      const entry = await entryFileOf(`${work}/cache`, second.chain);
      const { code, text } = await revoke(["--cert", entry, "--reason", "superseded", acmems.configFile]);
      assertEquals(code, 0, text);
      assertStringIncludes(text, `CA "b" issued it`);
      assertEquals(await status(b, second.file), "Revoked");
    });
  } finally {
    await cleanup.run();
  }
});
