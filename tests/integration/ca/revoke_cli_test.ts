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
import { assert, assertEquals, assertStringIncludes } from "../../support/assert.ts";
import { startAcmems } from "../../support/acmems.ts";
import { type ConfigSpec, http01 } from "../../support/config.ts";
import { makeCsr } from "../../support/csr.ts";
import { postSign } from "../../support/http.ts";
import type { Pebble } from "../../support/pebble.ts";
import { Cleanup } from "../../support/stack.ts";
import { caSection, intermediateOf, pemBody, startTwoCas } from "./_two_cas.ts";
import { parseRevokeArgs, runRevoke } from "../../../cli/revoke.ts";
import * as x509 from "@peculiar/x509";

async function revoke(args: string[]): Promise<{ code: number; text: string }> {
  const lines: string[] = [];
  const out = { info: (l: string) => lines.push(l), error: (l: string) => lines.push(l) };
  const code = await runRevoke(parseRevokeArgs(args), out);
  return { code, text: lines.join("\n") };
}

/** pebble's view of the chain's leaf: "Valid" or "Revoked" (404 from a pebble that did not issue it: "unknown"). */
async function status(pebble: Pebble, chain: string): Promise<string> {
  const serial = new x509.X509Certificate(chain.slice(0, chain.indexOf("-----END CERTIFICATE-----") + 25)).serialNumber;
  const client = Deno.createHttpClient({ caCerts: [pebble.caPem] });
  try {
    const response = await fetch(`${pebble.managementUrl}/cert-status-by-serial/${serial}`, { client });
    if (response.status === 404) {
      await response.body?.cancel();
      return "unknown";
    }
    assertEquals(response.status, 200, `cert-status-by-serial/${serial}`);
    return (await response.json()).Status;
  } finally {
    client.close();
  }
}

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
      assertEquals(await status(b, first.chain), "Valid");
    });

    await t.step("B's certificate as PEM, no --ca: the cache entry says B, revoked there, entry removed", async () => {
      const entry = await entryFileOf(`${work}/cache`, first.chain);
      const { code, text } = await revoke(["--cert", first.file, acmems.configFile]);
      assertEquals(code, 0, text);
      assertStringIncludes(text, `CA "b" issued it (its cache entry records ${b.directoryUrl})`);
      assertStringIncludes(text, `at ${b.directoryUrl}`);
      assertStringIncludes(text, 'Removed the cache entry for one.example.test from storage "cache"');
      assertEquals(await status(b, first.chain), "Revoked");
      assertEquals(await status(a, first.chain), "unknown", "A never saw it");
      assert(!(await Deno.stat(entry).then(() => true, () => false)), "the entry is gone");
    });

    await t.step("--ca a for B's certificate: A refuses, exit 1, still valid at B", async () => {
      const { code, text } = await revoke(["--cert", second.file, "--ca", "a", acmems.configFile]);
      assertEquals(code, 1, text);
      assertStringIncludes(text, "The CA did not revoke");
      assertEquals(await status(b, second.chain), "Valid");
    });

    await t.step("the cache entry file as --cert, no --ca: its directoryUrl says B, revoked there", async () => {
      const entry = await entryFileOf(`${work}/cache`, second.chain);
      const { code, text } = await revoke(["--cert", entry, "--reason", "superseded", acmems.configFile]);
      assertEquals(code, 0, text);
      assertStringIncludes(text, `CA "b" issued it`);
      assertEquals(await status(b, second.chain), "Revoked");
    });
  } finally {
    await cleanup.run();
  }
});
