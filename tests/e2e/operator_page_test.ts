/**
 * The operator page in a real browser and `acmems status` on a real cache: an `acmems serve` process in front of a
 * real pebble (names resolved through bind9) issues two certificates into a file storage; then
 *
 * - `acmems status CONFIG` and `--json` (a second process, no server involved) list both, sorted by renewal point;
 * - Debian's chromium, headless, loads `GET /` from the running acmems (127.0.0.1 is in the default metrics-ip):
 *   the rendered DOM has both certificates' names and not-after dates, the SVG timeline has one mark per
 *   certificate, the failed request for `unreachable.example.test` with the error id its client got, no
 *   Content-Security-Policy violation is logged (the style sheet's hash matches), and a screenshot
 *   is kept in `.work/test-output/operator_page.png` (not committed).
 *
 * Chromium as root needs `--no-sandbox`; `--headless=new --disable-gpu` and a throwaway `--user-data-dir` keep it
 * off the display and the user's profile; the other flags keep it off the network. Its D-Bus errors on stderr are
 * noise. It is killed by PID (SIGKILL) when it does not finish within 60 s.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../support/assert.ts";
import { ACMEMS_ROOT, runAcmems } from "../support/acmems.ts";
import { fileStorage, testConfig } from "../support/config.ts";
import { freePorts } from "../support/ports.ts";
import { requireExecutable } from "../support/process.ts";
import { since, startStack } from "../support/stack.ts";
import { assertStatus, curlSign, hostCsr } from "./host_tools.ts";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_TIMEOUT_MS = 60_000;
const OUTPUT_DIR = `${ACMEMS_ROOT}.work/test-output`;

/** Runs headless chromium with `args` to completion; SIGKILL by PID after the timeout. */
async function chromium(profile: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(CHROMIUM, {
    args: [
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--enable-logging=stderr",
      `--user-data-dir=${profile}`,
      ...args,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      Deno.kill(child.pid, "SIGKILL");
    } catch {
      // Already exited.
    }
  }, CHROMIUM_TIMEOUT_MS);
  try {
    const out = await child.output();
    const decoder = new TextDecoder();
    const result = { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
    assert(!timedOut, `chromium did not finish within ${CHROMIUM_TIMEOUT_MS} ms: ${result.stderr.slice(-2000)}`);
    return result;
  } finally {
    clearTimeout(timer);
  }
}

/** The JSON document in a process's output (config warnings may surround it on stderr). */
function jsonIn(output: string): Record<string, unknown> {
  return JSON.parse(output.slice(output.indexOf("{"), output.lastIndexOf("}") + 1));
}

interface StatusRow {
  names: string[];
  notAfter: string;
  renewal: { at: string; rule: string };
  state: string;
  storage: string;
}

Deno.test("operator page in headless chromium and acmems status, with two certificates from pebble", async (t) => {
  await requireExecutable(CHROMIUM);
  const started = Date.now();
  const [httpPort, mgmtPort] = await freePorts(2);
  const { work, cleanup, acmems: running } = await startStack({
    prefix: "acmems-e2e-operator-page-",
    pebble: { httpPort },
    acmems: ({ pebble, work }) => ({
      config: testConfig({
        ca: pebble,
        mgmtPort,
        httpPort,
        storages: { cache: fileStorage(`${work}/cache`) },
      }),
    }),
  });
  const acmems = running!;
  try {
    console.log(`setup (named, pebble, acmems ready): ${since(started)} ms`);
    const certificates = [["page-one.example.test", "www.page-one.example.test"], ["page-two.example.test"]];
    for (const names of certificates) {
      const csr = await hostCsr(work, names);
      assertStatus(await curlSign(acmems.mgmtUrl, csr.csrFile), 200, names.join(","));
    }

    // A failed first issuance (nothing cached): the page lists it with the error id the client got.
    const refused = await curlSign(acmems.mgmtUrl, (await hostCsr(work, ["unreachable.example.test"])).csrFile);
    assertStatus(refused, 421);
    const errorId = refused.body.match(/\(error id ([0-9a-f]{8})\)/)?.[1];
    assert(errorId, refused.body);

    let rows: StatusRow[] = [];
    await t.step("acmems status --json and text list both, sorted by renewal point, without the server", async () => {
      const json = await runAcmems(["status", "--json", acmems.configFile], { cwd: work });
      assertEquals(json.code, 0, json.output);
      const report = jsonIn(json.output);
      rows = report.certificates as StatusRow[];
      assertEquals(rows.map((r) => r.names).sort(), [...certificates].sort());
      for (const r of rows) assertEquals([r.state, r.storage], ["valid", "cache"]);
      const renewals = rows.map((r) => Date.parse(r.renewal.at));
      assertEquals(renewals, [...renewals].sort((a, b) => a - b));
      const text = await runAcmems(["status", acmems.configFile], { cwd: work });
      assertEquals(text.code, 0, text.output);
      assertStringIncludes(text.output, "2 certificates (2 valid), sorted by renewal point");
      assertStringIncludes(text.output, "page-one.example.test, www.page-one.example.test  [valid]");
      assertStringIncludes(text.output, "storage cache (file): 2 certificates");
      // The same order as the JSON.
      assert(text.output.indexOf(rows[0].names[0]) < text.output.indexOf(rows[1].names[0]), text.output);
    });

    await t.step(
      "chromium renders the page: names, not-after dates, one timeline mark each, no CSP violation",
      async () => {
        const profile = await Deno.makeTempDir({ prefix: "acmems-chromium-" });
        cleanup.add(() => Deno.remove(profile, { recursive: true }).catch(() => {}));
        const url = `${acmems.mgmtUrl}/`;
        const dom = await chromium(profile, ["--dump-dom", url]);
        assertEquals(dom.code, 0, dom.stderr.slice(-2000));
        const html = dom.stdout;
        assertStringIncludes(html, "<h1>acmems operator page</h1>");
        for (const r of rows) {
          for (const name of r.names) assertStringIncludes(html, `<span class="name">${name}</span>`);
          // The not-after date as a machine-readable time and as text.
          const text = r.notAfter.slice(0, 16).replace("T", " ") + " UTC";
          assertStringIncludes(html, `<time datetime="${r.notAfter}">${text}</time>`);
        }
        assertEquals(html.match(/<circle class="expiry"/g)?.length, 2, "one expiry mark per certificate");
        assertEquals(html.match(/<polygon class="renewal"/g)?.length, 2, "one renewal mark per certificate");
        assertMatch(html, /<span class="ok">connected<\/span>/);
        // Who fetched them (the in-memory fetch log): the auth block and the client address of the /sign.
        assertEquals(html.match(/by \[auth "local"\] from 127\.0\.0\.1/g)?.length, 2);
        // The ledger is always there (in memory here); this config sets no limit.
        assertStringIncludes(html, "No rate limit is configured.");
        assertMatch(
          html,
          new RegExp(`<td>421</td>\\s*<td>unreachable\\.example\\.test</td>[\\s\\S]*?>${errorId}</td>`),
        );
        assert(!/Content Security Policy|Refused to/i.test(dom.stderr), `CSP violation: ${dom.stderr.slice(-2000)}`);

        await Deno.mkdir(OUTPUT_DIR, { recursive: true });
        const png = `${OUTPUT_DIR}/operator_page.png`;
        await Deno.remove(png).catch(() => {});
        const shot = await chromium(profile, [`--screenshot=${png}`, "--window-size=1280,900", url]);
        assertEquals(shot.code, 0, shot.stderr.slice(-2000));
        const bytes = await Deno.readFile(png);
        assertEquals([...bytes.slice(1, 4)].map((b) => String.fromCharCode(b)).join(""), "PNG");
        assert(bytes.length > 10_000, `a real screenshot, not an empty page (${bytes.length} bytes)`);
        console.log(`  screenshot: ${png} (${bytes.length} bytes)`);
      },
    );
  } finally {
    await cleanup.run();
  }
});
