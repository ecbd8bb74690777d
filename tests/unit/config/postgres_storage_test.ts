/** `[storage] type = postgres` options, and the warning for a `file` storage on a network filesystem. */
import { parseIni } from "../../../src/config/ini.ts";
import { buildConfig } from "../../../src/config/build.ts";
import { networkFilesystem } from "../../../src/config/environment.ts";
import type { PostgresStorage } from "../../../src/config/types.ts";
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";
import { BASE, errorLines, fakeEnvironment, load } from "./helpers.ts";

Deno.test("config: postgres storage with defaults and with every option", () => {
  const plain = load(`${BASE}[storage "db"]\ntype = postgres\n`);
  assert(plain.ok, errorLines(plain).join("\n"));
  const db = plain.config!.storages.get("db") as PostgresStorage;
  assertEquals(
    { ...db, source: undefined },
    {
      type: "postgres",
      name: "db",
      poolSize: 5,
      leaseMs: 30_000,
      schema: "acmems",
      renewWithinDays: 14,
      renewActiveDays: 30,
      source: undefined,
    },
  );

  const full = load(
    `${BASE}[storage "db"]\ntype = postgres\nurl = postgres://acmems:s3cret@db.example.org:5433/certs\n` +
      "pool-size = 8\nlease = 45s\nschema = acmems_prod\nrenew-within = 20\nrenew-active-days = 60\n",
  );
  assert(full.ok, errorLines(full).join("\n"));
  const f = full.config!.storages.get("db") as PostgresStorage;
  assertEquals(
    [f.url, f.poolSize, f.leaseMs, f.schema, f.renewWithinDays, f.renewActiveDays],
    ["postgres://acmems:s3cret@db.example.org:5433/certs", 8, 45_000, "acmems_prod", 20, 60],
  );
});

Deno.test("config: postgres storage errors name the option and never echo the URL", () => {
  const cases: [string, RegExp][] = [
    ["url = mysql://u:hunter2@h/db", /url must be postgres:\/\/user:password@host:port\/database/],
    ["pool-size = 0", /pool-size: "0" is not a whole number from 1 to 100/],
    ["lease = 500ms", /lease: "500ms" must be from 1s to 1h/],
    ["lease = soon", /lease: "soon" is not a duration/],
    ["schema = Acmems-Prod", /schema "Acmems-Prod" must be lower-case letters/],
    ["directory = /var/cache", /Unknown option "directory"/],
  ];
  for (const [line, pattern] of cases) {
    const result = load(`${BASE}[storage "db"]\ntype = postgres\n${line}\n`);
    assert(!result.ok, line);
    assertMatch(errorLines(result).join("\n"), pattern);
    assert(!errorLines(result).join("\n").includes("hunter2"), "the password is not echoed");
  }
  const unknown = load(`${BASE}[storage "db"]\ntype = postgre\n`);
  assertMatch(errorLines(unknown).join("\n"), /did you mean postgres\?.*\(supported: none, file, postgres\)/);
});

Deno.test("config: a file storage on a network filesystem is a warning (flock is not a cluster lock)", () => {
  const text = `${BASE}[storage "c"]\ntype = file\ndirectory = /srv/shared/acmems\n`;
  const build = (type: string | null) =>
    buildConfig([{ file: "/etc/acmems/a.ini", document: parseIni(text, "/etc/acmems/a.ini") }], {
      ...fakeEnvironment(),
      networkFilesystem: (path) => (path.startsWith("/srv/shared") ? type : null),
    });
  const nfs = build("nfs4");
  assert(nfs.ok);
  assertEquals(nfs.warnings.length, 1);
  assertMatch(nfs.warnings[0].message, /directory \/srv\/shared\/acmems is on a network filesystem \(nfs4\).*postgres/);
  assertEquals(nfs.warnings[0].line, 9);
  assertEquals(build(null).warnings, []);
});

Deno.test("config: the default cache (no [storage] block) on a network filesystem is a warning too", () => {
  const text = BASE;
  const build = (type: string | null) =>
    buildConfig([{ file: "/etc/acmems/a.ini", document: parseIni(text, "/etc/acmems/a.ini") }], {
      ...fakeEnvironment(),
      networkFilesystem: (path) => (path.endsWith("/cache") ? type : null),
    });
  const nfs = build("nfs");
  assert(nfs.ok);
  assertEquals(nfs.warnings.length, 1, JSON.stringify(nfs.warnings));
  assertMatch(nfs.warnings[0].message, /default cache .*\/cache .*network filesystem \(nfs\).*postgres/);
  assertEquals(build(null).warnings, []);
});

Deno.test("networkFilesystem: longest mount point wins; octal escapes; local filesystems are not reported", () => {
  const mountinfo = [
    "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw",
    "40 22 0:50 / /srv/shared rw,relatime - nfs4 server:/export rw,vers=4.2",
    "41 40 8:2 / /srv/shared/local rw - xfs /dev/sdb1 rw",
    "42 22 0:51 / /mnt/my\\040share rw - cifs //nas/share rw",
    "43 22 0:52 / /home/u/remote rw - fuse.sshfs u@h: rw",
  ].join("\n");
  assertEquals(networkFilesystem("/srv/shared/acmems/cache", mountinfo), "nfs4");
  assertEquals(networkFilesystem("/srv/shared", mountinfo), "nfs4");
  assertEquals(networkFilesystem("/srv/shared/local/cache", mountinfo), null);
  assertEquals(networkFilesystem("/srv/sharedness", mountinfo), null);
  assertEquals(networkFilesystem("/mnt/my share/cache", mountinfo), "cifs");
  assertEquals(networkFilesystem("/home/u/remote/x", mountinfo), "fuse.sshfs");
  assertEquals(networkFilesystem("/var/lib/acmems", mountinfo), null);
  assertEquals(networkFilesystem("/var/lib/acmems", ""), null);
});
