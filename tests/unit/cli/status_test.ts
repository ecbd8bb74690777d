/**
 * `acmems status` (cli/status.ts) against file storages written on disk: the text block per certificate sorted by
 * renewal point, `--json` with its stable keys, a missing directory read as nothing stored (and not created), `none`
 * storages, usage errors and the dispatch from main.ts.
 */
import { assert, assertEquals, assertStringIncludes, assertThrows } from "../../support/assert.ts";
import { testEntry } from "../../support/entry.ts";
import { parseStatusArgs, runStatus } from "../../../cli/status.ts";
import { UsageError } from "../../../cli/usage.ts";
import { SUBCOMMANDS } from "../../../main.ts";
import type { Entry } from "../../../src/storage/mod.ts";

const NOW = new Date("2027-01-10T12:00:00Z");
const DAY = 86_400_000;
const at = (days: number) => new Date(NOW.getTime() + days * DAY).toISOString();

function configText(dir: string, storages: string): string {
  return `[account]\nacme-server = https://ca.test/dir\ndir = ${dir}/account\naccept-terms-of-service = yes\n` +
    `[verification "http"]\ntype = http01\nlistener = 127.0.0.1:18080\n${storages}` +
    `[auth "local"]\nip = 127.0.0.1\ndomain = *.example.test\n`;
}

async function writeEntry(directory: string, entry: Entry): Promise<void> {
  await Deno.mkdir(directory, { recursive: true });
  await Deno.writeTextFile(`${directory}/${entry.key}.json`, JSON.stringify(entry));
}

function capture() {
  const out = { info: [] as string[], error: [] as string[] };
  return { out, output: { info: (l: string) => out.info.push(l), error: (l: string) => out.error.push(l) } };
}

Deno.test("acmems status: a block per certificate sorted by renewal point, --json the same rows", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-status-" });
  try {
    await writeEntry(
      `${dir}/cache`,
      testEntry("C", "a".repeat(64), {
        names: ["late.example.test"],
        notBefore: at(-5),
        issuedAt: at(-5),
        notAfter: at(85),
        lastFetchedAt: at(-1),
        block: "local",
        profile: "default",
      }),
    );
    await writeEntry(
      `${dir}/cache`,
      testEntry("C", "b".repeat(64), {
        names: ["soon.example.test", "www.soon.example.test"],
        notBefore: at(-85),
        issuedAt: at(-85),
        notAfter: at(5),
        lastFetchedAt: at(-1),
        renewal: {
          failures: 2,
          lastError: "The CA is not available",
          lastErrorId: "ab12cd34",
          lastFailureAt: at(-0.05),
          nextAttemptAt: at(0.1),
        },
      }),
    );
    const file = `${dir}/acmems.ini`;
    await Deno.writeTextFile(
      file,
      configText(
        dir,
        `[storage "cache"]\ntype = file\ndirectory = ${dir}/cache\n` +
          `[storage "empty"]\ntype = file\ndirectory = ${dir}/not-yet\n[storage "off"]\ntype = none\n`,
      ),
    );

    const text = capture();
    assertEquals(await runStatus([file], text.output, NOW), 0, text.out.error.join("\n"));
    const printed = text.out.info.join("\n");
    assertStringIncludes(printed, "2 certificates (1 backing-off, 1 valid), sorted by renewal point");
    assert(printed.indexOf("soon.example.test") < printed.indexOf("late.example.test"), printed);
    assertStringIncludes(printed, "soon.example.test, www.soon.example.test  [backing-off]");
    assertStringIncludes(printed, "  not after 2027-01-15 12:00 UTC (in 5 d)");
    assertStringIncludes(printed, "  failed    2027-01-10 10:48 UTC (72 min ago) ×2 [error id ab12cd34]: The CA");
    assertStringIncludes(
      printed,
      "  backoff   until 2027-01-10 14:24 UTC (in 2 h)",
    );
    assertStringIncludes(printed, "  renew     2027-03-22 12:00 UTC (in 71 d) by renew-within");
    assertStringIncludes(printed, "  CA        https://ca.test/dir  profile default  storage cache  block local");
    assertStringIncludes(printed, "storage cache (file): 2 certificates");
    assertStringIncludes(printed, `storage empty (file): ${dir}/not-yet does not exist: nothing stored yet`);
    assertStringIncludes(printed, "storage off (none): type = none stores nothing");
    // Read-only: the missing directory was not created.
    assertEquals(await Deno.stat(`${dir}/not-yet`).then(() => true, () => false), false);

    const json = capture();
    assertEquals(await runStatus(["--json", file], json.output, NOW), 0);
    const report = JSON.parse(json.out.info.join("\n"));
    assertEquals(Object.keys(report), ["now", "storages", "certificates"]);
    assertEquals(report.now, NOW.toISOString());
    assertEquals(
      report.storages.map((
        s: { name: string; type: string; certificates: number },
      ) => [s.name, s.type, s.certificates]),
      [
        ["cache", "file", 2],
        ["empty", "file", 0],
        ["off", "none", 0],
      ],
    );
    assertEquals(report.certificates.map((c: { names: string[] }) => c.names[0]), [
      "soon.example.test",
      "late.example.test",
    ]);
    const soon = report.certificates[0];
    assertEquals(Object.keys(soon), [
      "storage",
      "key",
      "names",
      "ca",
      "directoryUrl",
      "profile",
      "issuedAt",
      "notBefore",
      "notAfter",
      "state",
      "renewal",
      "ariWindow",
      "block",
      "lastFetchedAt",
      "lastFetchedBy",
      "lastFailure",
      "backoffUntil",
    ]);
    assertEquals([soon.state, soon.backoffUntil, soon.lastFailure.errorId], ["backing-off", at(0.1), "ab12cd34"]);
    assertEquals(soon.renewal, { at: at(-9), rule: "renew-within" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("acmems status: only none storages say nothing is stored; usage errors; listed in main", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-status-" });
  try {
    const file = `${dir}/acmems.ini`;
    await Deno.writeTextFile(file, configText(dir, `[storage "off"]\ntype = none\n`));
    const c = capture();
    assertEquals(await runStatus([file], c.output, NOW), 0);
    assertEquals(c.out.info, ["Nothing is stored: every [storage] block has type = none."]);
    const invalid = capture();
    await Deno.writeTextFile(`${dir}/bad.ini`, "[account]\nnonsense = 1\n");
    assertEquals(await runStatus([`${dir}/bad.ini`], invalid.output, NOW), 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert(assertThrows(() => parseStatusArgs([]), /^no config file given$/) instanceof UsageError);
  assert(assertThrows(() => parseStatusArgs(["--yaml", "x.ini"]), /^unknown option "--yaml"$/) instanceof UsageError);
  assertEquals(parseStatusArgs(["--json", "a.ini", "b.ini"]), { files: ["a.ini", "b.ini"], json: true });
  assertEquals((await SUBCOMMANDS["status"]()).name, "status", "main.ts dispatches status");
});
