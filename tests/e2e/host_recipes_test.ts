/**
 * The README's host recipes never destroy a certificate (issue 18, item 2). Every recipe block of "Getting a
 * certificate (hosts)" that talks to /sign (curl and wget, with and without HMAC) is taken from README.md as written
 * and run by dash in a host directory that already holds a certificate:
 *  - against a stopped acmems (nothing listens): it fails, host.pem is unchanged, the tool's reason is on stderr;
 *  - against a running acmems (in front of pebble and bind9) that refuses the name: it fails, host.pem is
 *    unchanged, acmems' one-line reason is on stderr;
 *  - against a proxy that redirects /sign (301) to a page that answers 200: it fails, host.pem is unchanged;
 *  - against the running acmems for an admitted name: host.pem is replaced by the chain.
 * No host.pem.new is left behind in any case. The client kit (clients/acmems-client.sh) is held to the same rule
 * with an installed certificate: a stopped server, a refusal, an error status and a garbage 200 leave it as it was.
 */
import { assert, assertEquals, assertMatch, assertNotEquals, assertStringIncludes } from "../support/assert.ts";
import { fileStorage, ipAuth, testConfig, writeConfig } from "../support/config.ts";
import { freePort } from "../support/ports.ts";
import { removeWorkDir, run, runChecked, type RunResult } from "../support/process.ts";
import { serveInProcess, startStack } from "../support/stack.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const README = await Deno.readTextFile(`${ROOT}README.md`);
const HMAC_KEY = "host-recipes-hmac-key-0123456789";
/** The server and key file the README's recipes name. */
const README_SERVER = "http://acmems.example.org:1313";
const README_KEY_FILE = "/etc/ssl/private/acmems-hmac.key";
const OLD_CERT = "-----BEGIN CERTIFICATE-----\nthe certificate the host has now\n-----END CERTIFICATE-----\n";

/** The README section "Getting a certificate (hosts)". */
function hostsSection(): string {
  const start = README.indexOf("## Getting a certificate (hosts)");
  assert(start >= 0, "README has the section Getting a certificate (hosts)");
  const end = README.indexOf("\n## ", start + 3);
  return README.slice(start, end < 0 ? undefined : end);
}

function shBlocks(text: string): string[] {
  return [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
}

interface Recipe {
  name: string;
  /** The block as written (after the HMAC function block, for HMAC recipes). */
  script: string;
  hmac: boolean;
}

/** The CSR block, and every block that fetches a certificate from /sign (curl or wget; HMAC or not). */
function readmeRecipes(): { csr: string; recipes: Recipe[] } {
  const blocks = shBlocks(hostsSection());
  const csr = blocks.find((b) => b.includes("openssl req -new") && b.includes("-out host.csr"));
  assert(csr, "the section has the openssl req block");
  const hmacFunction = blocks.find((b) => b.includes("hmac_sha256()"));
  assert(hmacFunction, "the section has the hmac_sha256 block");
  const recipes: Recipe[] = [];
  for (const block of blocks) {
    if (!/\/sign\b/.test(block) || !/^(curl|wget) /m.test(block)) continue;
    const hmac = block.includes("$hash");
    const tool = /^curl /m.test(block) ? "curl" : "wget";
    recipes.push({ name: `${tool}${hmac ? " + HMAC" : ""}`, script: hmac ? `${hmacFunction}${block}` : block, hmac });
  }
  assertEquals(recipes.map((r) => r.name).sort(), ["curl", "curl + HMAC", "wget", "wget + HMAC"]);
  return { csr, recipes };
}

Deno.test("README: every /sign and /revoke call writes to a temp file or shows the reason; no '> host.pem'", () => {
  for (const block of shBlocks(README)) {
    // A command: a line starting with curl or wget, and the indented lines that continue it.
    for (const [command] of block.matchAll(/^(?:curl|wget) .*(?:\n[ \t]+.*)*/gm)) {
      if (!/\/(sign|revoke)\b/.test(command)) continue;
      assert(!/(>\s*|-O |-o )host\.pem(?![.\w])/.test(command), `writes host.pem: ${command}`);
      if (command.includes("/sign")) {
        assertMatch(command, /(-o|-O) host\.pem\.new /, command);
        assertMatch(command, /&&\s+mv host\.pem\.new host\.pem \|\| \{ cat host\.pem\.new >&2; rm -f host\.pem\.new;/);
      }
      if (command.startsWith("curl")) assertStringIncludes(command, "--fail-with-body", command);
      if (command.startsWith("wget")) assertStringIncludes(command, "--content-on-error", command);
    }
  }
  assertStringIncludes(hostsSection(), "clients/acmems-client.sh", "the section points cron users to the client kit");
});

/** Runs a README block with dash in `dir` (as `sh -c` would from cron). */
function runRecipe(script: string, dir: string, url: string, keyFile: string): Promise<RunResult> {
  const text = script.replaceAll(README_SERVER, url).replaceAll(README_KEY_FILE, keyFile);
  assert(!text.includes("example.org:1313"), `a server the test did not replace: ${text}`);
  return run("/usr/bin/dash", ["-c", text], { cwd: dir });
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

function show(r: RunResult): string {
  return `exit ${r.code}\n--- stdout ---\n${r.stdout}--- stderr ---\n${r.stderr}`;
}

/** pebble + bind9 (tests/support/stack.ts) and acmems in-process with an HMAC block and an address-only block. */
async function startAcmems() {
  const httpPort = await freePort();
  const { work, pebble, cleanup } = await startStack({ prefix: "acmems-host-recipes-", pebble: { httpPort } });
  try {
    for (let attempt = 1;; attempt++) {
      const mgmtPort = await freePort();
      const config = await writeConfig(
        `${work}/acmems-${attempt}.ini`,
        testConfig({
          comment: "README host recipes",
          ca: pebble,
          mgmtPort,
          httpPort,
          logging: { level: "info", format: "json", destination: `${work}/acmems.log` },
          storages: { cache: fileStorage("cache") },
          auth: {
            hmac: { ip: "127.0.0.1", domain: "*.tsig.test", hmac_type: "sha256", hmac_key: HMAC_KEY },
            local: ipAuth(),
          },
        }),
      );
      await Deno.chmod(config, 0o600);
      const served = await serveInProcess([config]).catch((e: Error) => e);
      if (!(served instanceof Error)) {
        cleanup.add(() => served.stop());
        return { work, url: served.url, stop: () => cleanup.run() };
      }
      if (attempt >= 3) throw new Error(`acmems serve failed: ${served.message}`);
    }
  } catch (e) {
    await cleanup.run();
    throw e;
  }
}

Deno.test("README host recipes: a failed call leaves host.pem as it was and shows why; a 200 replaces it", async (t) => {
  const { csr, recipes } = readmeRecipes();
  const acmems = await startAcmems();
  // A proxy in front of acmems that redirects (http → https, say) to a page that answers 200.
  const redirector = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const url = new URL(request.url);
    if (url.pathname !== "/sign") return new Response("<html>a web page</html>\n");
    return new Response("<html>moved</html>\n", { status: 301, headers: { Location: `${url.origin}/page` } });
  });
  const redirecting = `http://127.0.0.1:${redirector.addr.port}`;
  try {
    const keyFile = `${acmems.work}/hmac.key`;
    await Deno.writeTextFile(keyFile, `${HMAC_KEY}\n`, { mode: 0o600 });
    const stopped = `http://127.0.0.1:${await freePort()}`;
    let n = 0;
    for (const recipe of recipes) {
      await t.step(recipe.name, async () => {
        const dir = `${acmems.work}/host-${++n}`;
        await Deno.mkdir(dir);
        // The README's CSR line, for a name no block admits (as written: host.example.org) and an admitted one.
        const allowed = recipe.hmac ? `host${n}.tsig.test` : `host${n}.example.test`;
        await runChecked("/usr/bin/dash", ["-c", csr], { cwd: dir });
        await Deno.rename(`${dir}/host.csr`, `${dir}/refused.csr`);
        await runChecked("/usr/bin/dash", ["-c", csr.replaceAll("host.example.org", allowed)], { cwd: dir });
        await Deno.rename(`${dir}/host.csr`, `${dir}/allowed.csr`);
        await Deno.writeTextFile(`${dir}/host.pem`, OLD_CERT);
        const files = ["allowed.csr", "host.key", "host.pem", "refused.csr"];

        await Deno.copyFile(`${dir}/allowed.csr`, `${dir}/host.csr`);
        const down = await runRecipe(recipe.script, dir, stopped, keyFile);
        assertNotEquals(down.code, 0, `acmems stopped: ${show(down)}`);
        assertEquals(await Deno.readTextFile(`${dir}/host.pem`), OLD_CERT, `acmems stopped: host.pem kept`);
        assertMatch(down.stderr, /refused|Failed to connect/i, `acmems stopped: the reason is shown: ${show(down)}`);
        assertEquals(await listDir(dir), [...files, "host.csr"].sort(), "no host.pem.new left");

        const moved = await runRecipe(recipe.script, dir, redirecting, keyFile);
        assertNotEquals(moved.code, 0, `a redirect: ${show(moved)}`);
        assertEquals(await Deno.readTextFile(`${dir}/host.pem`), OLD_CERT, "a redirect: host.pem kept");
        assertEquals(await listDir(dir), [...files, "host.csr"].sort(), "no host.pem.new left");

        await Deno.copyFile(`${dir}/refused.csr`, `${dir}/host.csr`);
        const refused = await runRecipe(recipe.script, dir, acmems.url, keyFile);
        assertNotEquals(refused.code, 0, `refused: ${show(refused)}`);
        assertEquals(await Deno.readTextFile(`${dir}/host.pem`), OLD_CERT, "refused: host.pem kept");
        assertStringIncludes(refused.stderr, "No auth block admits this client for host.example.org", show(refused));
        assertEquals(await listDir(dir), [...files, "host.csr"].sort(), "no host.pem.new left");

        await Deno.copyFile(`${dir}/allowed.csr`, `${dir}/host.csr`);
        const ok = await runRecipe(recipe.script, dir, acmems.url, keyFile);
        assertEquals(ok.code, 0, `admitted: ${show(ok)}`);
        const chain = await Deno.readTextFile(`${dir}/host.pem`);
        assertEquals((chain.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length, 2, `leaf and intermediate: ${chain}`);
        const san = await runChecked("openssl", ["x509", "-in", `${dir}/host.pem`, "-noout", "-ext", "subjectAltName"]);
        assertStringIncludes(san.stdout, `DNS:${allowed}`);
        assertEquals(await listDir(dir), [...files, "host.csr"].sort(), "no host.pem.new left");
      });
    }
  } finally {
    await redirector.shutdown();
    await acmems.stop();
  }
});

// --- the client kit: an installed certificate survives every failure -------------------------------------------------

const KIT = `${ROOT}clients/acmems-client.sh`;

Deno.test("client kit: an installed certificate is never truncated or replaced by a failed call", async () => {
  const work = await Deno.makeTempDir({ prefix: "acmems-kit-keeps-" });
  let answer = (): Response => new Response("acmems says no\n", { status: 403 });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    await request.arrayBuffer();
    return answer();
  });
  try {
    const cert = `${work}/host.pem`;
    await Deno.writeTextFile(cert, OLD_CERT);
    const inode = (await Deno.stat(cert)).ino;
    const args = (url: string) => ["--server", url, "--key", `${work}/host.key`, "--cert", cert, "--force"];
    const cases: [string, string, () => Response][] = [
      ["stopped", `http://127.0.0.1:${await freePort()}`, answer],
      ["403", `http://127.0.0.1:${server.addr.port}`, () => new Response("acmems says no\n", { status: 403 })],
      ["503", `http://127.0.0.1:${server.addr.port}`, () => new Response("CA down\n", { status: 503 })],
      [
        "garbage 200",
        `http://127.0.0.1:${server.addr.port}`,
        () =>
          new Response("<html>a proxy</html>\n", { headers: { "Content-Type": "application/pem-certificate-chain" } }),
      ],
      [
        "empty 200",
        `http://127.0.0.1:${server.addr.port}`,
        () => new Response("", { headers: { "Content-Type": "application/pem-certificate-chain" } }),
      ],
    ];
    for (const [what, url, respond] of cases) {
      answer = respond;
      const r = await run(KIT, [...args(url), "host.example.test"]);
      assertNotEquals(r.code, 0, `${what}: ${show(r)}`);
      assert(r.stderr.trim() !== "", `${what}: says why: ${show(r)}`);
      assertEquals(await Deno.readTextFile(cert), OLD_CERT, `${what}: the certificate is unchanged`);
      assertEquals((await Deno.stat(cert)).ino, inode, `${what}: the same file`);
      assertEquals(
        (await listDir(work)).filter((f) => f.startsWith("host.pem")),
        ["host.pem"],
        `${what}: no temp file left`,
      );
    }
  } finally {
    await server.shutdown();
    await removeWorkDir(work);
  }
});
