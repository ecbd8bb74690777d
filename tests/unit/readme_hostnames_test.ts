/**
 * One hostname in every host example (issue 18, item 9): the README, the client kit and the example configs call
 * the host `host.example.org` and the acmems server `acmems.example.org` (the quick start and the test configs use
 * names under `example.test`, which the test DNS resolves).
 */
import { assert, assertEquals } from "../support/assert.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

async function filesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(`${ROOT}${dir}`)) {
    if (entry.isFile) found.push(`${dir}/${entry.name}`);
    else if (entry.isDirectory) found.push(...await filesUnder(`${dir}/${entry.name}`));
  }
  return found;
}

const FILES = ["README.md", ...await filesUnder("clients"), ...await filesUnder("configs")];

Deno.test("host examples: host.example.org and acmems.example.org, no other spellings", async () => {
  const other = [
    /\bwww\.example\.(org|com|net)\b/, // the host was www.example.org in some examples
    /https?:\/\/acmems[:/]/, // the server was http://acmems:1313 in some
    /https?:\/\/acmems\.example\.(com|net)\b/,
  ];
  const found: string[] = [];
  for (const file of FILES) {
    const lines = (await Deno.readTextFile(`${ROOT}${file}`)).split("\n");
    lines.forEach((line, i) => {
      if (other.some((pattern) => pattern.test(line))) found.push(`${file}:${i + 1}: ${line.trim()}`);
    });
  }
  assertEquals(found, [], "host examples spelled another way");
});

Deno.test("host examples: the hosts section and the client kit use the one host and server name", async () => {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const hosts = readme.slice(readme.indexOf("## Getting a certificate (hosts)"), readme.indexOf("\n## HTTP API"));
  for (const text of [hosts, await Deno.readTextFile(`${ROOT}clients/README.md`)]) {
    assert(text.includes("host.example.org"), "names the host host.example.org");
    assert(text.includes("http://acmems.example.org:1313"), "names the server http://acmems.example.org:1313");
  }
  const kit = await Deno.readTextFile(`${ROOT}clients/acmems-client.sh`);
  assert(kit.includes("--server http://acmems.example.org:1313"), "the kit's cron example");
  assert(kit.includes("host.example.org >/dev/null"), "the kit's cron example names host.example.org");
});
