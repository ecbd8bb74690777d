import { assert, assertEquals, assertMatch } from "../../support/assert.ts";
import { BASE, errorLines, load } from "./helpers.ts";

/** [name, extra config appended to BASE, expected line of the first error, message pattern] */
const ERROR_CASES: [string, string, number, RegExp][] = [
  [
    "unknown option in auth with hint",
    '[auth "b"]\ndomain = x.org\nhmac-type = sha256\n',
    9,
    /Unknown option "hmac-type" in \[auth "b"\]: did you mean "hmac_type"\?/,
  ],
  [
    "unknown option in account",
    "[account]\nemial = a@b.org\n",
    8,
    /Unknown option "emial" in \[account\]: did you mean "email"\?/,
  ],
  [
    "singleton twice in one file",
    "[account]\ndir = /other\n",
    8,
    /\[account\] dir is set twice: here and at \/etc\/acmems\/a.ini:2/,
  ],
  [
    "auth block defined twice",
    '[auth "a"]\ndomain = x.org\n',
    7,
    /\[auth "a"\] is defined twice: here and at \/etc\/acmems\/a.ini:4/,
  ],
  ["acme-server not a URL", "[account]\nacme-server = not a url\n", 8, /acme-server: "not a url" is not a URL/],
  ["acme-server v1", "[account]\nacme-server = https://acme-v01.api.letsencrypt.org/directory\n", 8, /retired ACME v1/],
  [
    "tos yes and url",
    "[account]\naccept-terms-of-service = https://ca.example/tos\n",
    8,
    /either accept any terms \(yes\) once or list/,
  ],
  ["tos garbage", "[mgmt]\n[account]\n", 0, /^$/],
  ["bad email", "[account]\nemail = nobody\n", 8, /"nobody" is not an e-mail address/],
  ["eab kid without key", "[account]\neab-kid = kid-1\n", 8, /eab-kid needs eab-hmac-key/],
  [
    "eab key not base64",
    "[account]\neab-kid = k\neab-hmac-key = not base64!\n",
    9,
    /eab-hmac-key is not base64url or base64: paste/,
  ],
  ["eab key of impossible length", "[account]\neab-kid = k\neab-hmac-key = abcde\n", 9, /not base64url or base64/],
  [
    "tos neither yes nor an absolute URL",
    "[account]\naccept-terms-of-service = /terms.pdf\n",
    8,
    /accept-terms-of-service "\/terms.pdf" is neither yes\/no nor the URL/,
  ],
  [
    "tsig secret in the URL-safe alphabet",
    '[verification "d"]\ntype = dns01-dnsUpdate\ndns-server = 127.0.0.1\ntsig-key-name = k\ntsig-secret = c2Vj-mV0_A\n',
    11,
    /tsig-secret is not base64/,
  ],
  [
    "sign-timeout beyond what a timer holds",
    "[mgmt]\nsign-timeout = 99999999999999999999\n",
    8,
    /sign-timeout: "99999999999999999999" is too long: write at most 24h/,
  ],
  ["sign-timeout over a day", "[mgmt]\nsign-timeout = 25h\n", 8, /sign-timeout: "25h" is too long: write at most 24h/],
  ["body-timeout over a day", "[mgmt]\nbody-timeout = 1441m\n", 8, /body-timeout: "1441m" is too long/],
  [
    "dns timeout over a day",
    '[verification "d"]\ntype = dns01-dnsUpdate\ndns-server = 127.0.0.1\ntimeout = 86401\n',
    10,
    /timeout: "86401" is too long: write at most 24h/,
  ],
  [
    "notify timeout of 10^400 seconds",
    `[notify "n"]\ntype = exec\ncommand = /bin/true\nevents = expiring\ntimeout = 1${"0".repeat(400)}\n`,
    11,
    /timeout: "10+" is too long: write at most 24h/,
  ],
  [
    "postgres lease over an hour",
    '[storage "p"]\ntype = postgres\nlease = 2h\n',
    9,
    /lease: "2h" is too long: write at most 1h/,
  ],
  [
    "postgres lease under a second",
    '[storage "p"]\ntype = postgres\nlease = 500ms\n',
    9,
    /lease: "500ms" must be from 1s to 1h/,
  ],
  [
    "dns server: a bare IPv6 with a zone",
    '[verification "d"]\ntype = dns01-dnsUpdate\ndns-server = fe80::1%eth0\n',
    9,
    /"fe80::1%eth0" is not an IP address of a DNS server: write ip, ip:port, ipv6 or \[ipv6\]:port/,
  ],
  ["max-size garbage", "[mgmt]\nmax-size = 4 kilo\n", 8, /max-size: "4 kilo" is not a size/],
  ["max-size zero", "[mgmt]\nmax-size = 0\n", 8, /must be at least 1 byte/],
  ["sign-timeout garbage", "[mgmt]\nsign-timeout = soon\n", 8, /sign-timeout: "soon" is not a duration/],
  [
    "unknown default-verification",
    "[mgmt]\ndefault-verification = dns\n",
    8,
    /default-verification "dns" names no \[verification\] section \(defined: http\)/,
  ],
  [
    "unknown default-storage",
    "[mgmt]\ndefault-storage = disk\n",
    8,
    /default-storage "disk" names no \[storage\] section/,
  ],
  ["listener without port", "[mgmt]\nlistener = 127.0.0.1\n", 8, /has no port/],
  ["listener bad port", "[mgmt]\nlistener = 127.0.0.1:70000\n", 8, /invalid port "70000"/],
  ["listener unbracketed v6", "[mgmt]\nlistener = ::1:1313\n", 8, /without brackets/],
  ["listener link-local without zone", "[mgmt]\nlistener = [fe80::1]:1313\n", 8, /link-local address without a zone/],
  ["listener unknown host", "[mgmt]\nlistener = nosuchhost:1313\n", 8, /not in the hosts file/],
  ["listener empty", "[mgmt]\nlistener =\n", 8, /Listener is empty/],
  ["logging level", "[logging]\nlevel = loud\n", 8, /level "loud" is not one of error, warning, info, debug/],
  ["logging format", "[logging]\nformat = xml\n", 8, /format "xml" is not text or json/],
  ["logging syslog", "[logging]\ndestination = syslog\n", 8, /destination syslog is not supported/],
  [
    "verification without type first",
    '[verification "v"]\nlistener = 127.0.0.1:80\n',
    8,
    /the first option must be type/,
  ],
  [
    "verification unknown type",
    '[verification "v"]\ntype = http-01\n',
    8,
    /unknown verification type "http-01": did you mean http01\?/,
  ],
  [
    "verification test-only type",
    '[verification "v"]\ntype = dns01-boulder\n',
    8,
    /test-only type of the original ACMEMS/,
  ],
  [
    "http01 unknown option",
    '[verification "v"]\ntype = http01\nlistner = 127.0.0.1:80\n',
    9,
    /did you mean "listener"/,
  ],
  ["dns without server", '[verification "d"]\ntype = dns01-dnsUpdate\n', 7, /needs dns-server/],
  [
    "dns bad server",
    '[verification "d"]\ntype = dns01-dnsUpdate\ndns-server = ns.example.org\n',
    9,
    /not an IP address of a DNS server/,
  ],
  [
    "dns bad ttl",
    '[verification "d"]\ntype = dns01-dnsUpdate\ndns-server = 127.0.0.1\nttl = -1\n',
    10,
    /ttl: "-1" is not a whole number/,
  ],
  [
    "dns bad transport",
    '[verification "d"]\ntype = dns01-dnsUpdate\ndns-server = 127.0.0.1\ntransport = quic\n',
    10,
    /transport "quic" is not tcp or udp/,
  ],
  [
    "tsig md5 refused",
    '[verification "d"]\ntype = dns01-dnsUpdate\ndns-server = 127.0.0.1\ntsig-key-name = k\ntsig-algorithm = hmac-md5\ntsig-secret = c2VjcmV0\n',
    11,
    /hmac-md5 is refused: MD5 and SHA-1 are broken/,
  ],
  [
    "tsig sha1 refused",
    '[verification "d"]\ntype = dns01-dnsUpdate\ndns-server = 127.0.0.1\ntsig-key-name = k\ntsig-algorithm = hmac-sha1\ntsig-secret = c2VjcmV0\n',
    11,
    /hmac-sha1 is refused/,
  ],
  [
    "tsig secret without name",
    '[verification "d"]\ntype = dns01-dnsUpdate\ndns-server = 127.0.0.1\ntsig-secret = c2VjcmV0\n',
    10,
    /tsig-secret needs tsig-key-name/,
  ],
  [
    "tsig secret and file",
    '[verification "d"]\ntype = dns01-dnsUpdate\ndns-server = 127.0.0.1\ntsig-secret = c2VjcmV0\ntsig-key-file = k.key\n',
    10,
    /set tsig-secret or tsig-key-file, not both/,
  ],
  [
    "tsig key file missing",
    '[verification "d"]\ntype = dns01-dnsUpdate\ndns-server = 127.0.0.1\ntsig-key-file = /nope.key\n',
    10,
    /tsig-key-file \/nope.key cannot be read: no such file/,
  ],
  ["storage without type", '[storage "s"]\ndirectory = /x\n', 8, /the first option must be type/],
  ["storage unknown type", '[storage "s"]\ntype = redis\n', 8, /unknown storage type "redis"/],
  [
    "none storage with option",
    '[storage "s"]\ntype = none\ndirectory = /x\n',
    9,
    /Unknown option "directory" in \[storage "s"\] \(type none takes no options\)/,
  ],
  ["file storage without directory", '[storage "s"]\ntype = file\n', 7, /needs directory =/],
  [
    "file storage bad renew-within",
    '[storage "s"]\ntype = file\ndirectory = /x\nrenew-within = two weeks\n',
    10,
    /renew-within: "two weeks" is not a whole number/,
  ],
  [
    "auth without domain",
    '[auth "b"]\nip = 10.0.0.1\n',
    7,
    /has no domain = \(or ip-identifiers =\) line, so it can never match/,
  ],
  [
    "auth ip host bits",
    '[auth "b"]\nip = 192.0.2.1/24\ndomain = x.org\n',
    8,
    /host bits set: did you mean 192.0.2.0\/24\?/,
  ],
  ["auth ip garbage", '[auth "b"]\nip = 300.1.1.1\ndomain = x.org\n', 8, /"300.1.1.1" is not an IPv4 or IPv6 address/],
  [
    "auth hmac md5",
    '[auth "b"]\nhmac_type = md5\nhmac_key = 0123456789abcdef0\ndomain = x.org\n',
    8,
    /hmac_type md5 is refused/,
  ],
  [
    "auth hmac unknown",
    '[auth "b"]\nhmac_type = sha3\nhmac_key = 0123456789abcdef0\ndomain = x.org\n',
    8,
    /hmac_type "sha3" is not one of/,
  ],
  [
    "auth hmac key without type",
    '[auth "b"]\nhmac_key = 0123456789abcdef0\ndomain = x.org\n',
    8,
    /hmac_key needs hmac_type/,
  ],
  ["auth hmac type without key", '[auth "b"]\nhmac_type = sha256\ndomain = x.org\n', 8, /hmac_type needs hmac_key/],
  ["auth all = no", '[auth "b"]\nall = no\ndomain = x.org\n', 8, /all accepts only yes/],
  [
    "auth unknown verification",
    '[auth "b"]\nall = yes\nverification = dns\ndomain = x.org\n',
    9,
    /verification "dns" names no \[verification\] section/,
  ],
  [
    "auth unknown storage",
    '[auth "b"]\nall = yes\nstorage = disk\ndomain = x.org\n',
    9,
    /storage "disk" names no \[storage\] section/,
  ],
  ["auth glob unbalanced", '[auth "b"]\nall = yes\ndomain = [ab.x.org\n', 9, /unbalanced .\[. at column 1/],
  ["auth glob bad char", '[auth "b"]\nall = yes\ndomain = a/b.org\n', 9, /contains .\/. at column 2/],
  ["auth bad profile", '[auth "b"]\nall = yes\ndomain = x.org\nprofile = not a profile\n', 10, /is not a profile name/],
  ["listener clash mgmt/http01", "[mgmt]\nlistener = 127.0.0.1:1380\n", 8, /overlaps/],
];

for (const [name, extra, line, message] of ERROR_CASES) {
  if (name === "tos garbage") continue;
  Deno.test(`config error: ${name}`, () => {
    const result = load(BASE + extra);
    assert(!result.ok, `expected an error, got none: ${JSON.stringify(result.warnings)}`);
    const first = result.errors[0];
    assertMatch(first.message, message, errorLines(result).join("\n"));
    assertEquals(first.line, line, errorLines(result).join("\n"));
    assertEquals(first.file, "/etc/acmems/a.ini");
  });
}

Deno.test("config: a typo in [auth] does not silently open the block (the original dropped the rest)", () => {
  const result = load(`[account]
dir = /acct
[auth "b"]
domain = *.example.org
hmac-type = sha256
hmac_key = 0123456789abcdef0123
ip = 192.0.2.0/24
`);
  assert(!result.ok);
  assertEquals(errorLines(result), [
    `5: Unknown option "hmac-type" in [auth "b"]: did you mean "hmac_type"? (known: ip, ip-identifiers, domain, hmac_type, hmac_key, all, verification, storage, profile, ca, limit-orders, limit-orders-per-client, acme-eab-kid, acme-eab-hmac-key)`,
    `6: [auth "b"] hmac_key needs hmac_type (e.g. hmac_type = sha256)`,
  ]);
});

Deno.test("config: account dir is required", () => {
  const result = load('[auth "a"]\nall = yes\ndomain = x.org\n');
  assert(!result.ok);
  assertMatch(result.errors[0].message, /\[account\] dir is required/);
});

Deno.test("config: defaults", () => {
  const result = load(BASE);
  assert(result.ok, errorLines(result).join("\n"));
  const c = result.config!;
  assertEquals(c.account.acmeServer, "https://acme-staging-v02.api.letsencrypt.org/directory");
  assert(c.account.acmeServerIsDefault);
  assert(result.notes.some((n) => /Let's Encrypt staging/.test(n.message)));
  assertEquals(c.mgmt.listeners.map((l) => l.display), ["127.0.0.1:1313", "[::1]:1313"]);
  assertEquals(c.mgmt.maxSize, 4096);
  assertEquals(c.mgmt.signTimeoutMs, 90_000);
  assertEquals(c.logging, { level: "info", format: "text", destination: "stderr" });
  // No [verification]: an implicit dual-stack http01 "http".
  const http = c.verifications.get("http")!;
  assertEquals(http.type, "http01");
  assertEquals(http.type === "http01" && http.listeners.map((l) => l.display), ["[::]:1380"]);
  assertEquals(c.mgmt.defaultVerification, "http");
  // No [storage]: an implicit file cache under the account dir, not "none".
  const cache = c.storages.get("cache")!;
  assertEquals(cache.type === "file" && [cache.directory, cache.renewWithinDays, cache.implicit], [
    "/var/lib/acmems/account/cache",
    14,
    true,
  ]);
  assertEquals(c.auth[0].verification, "http");
  assertEquals(c.auth[0].storage, "cache");
});

const SIZE_CASES: [string, number][] = [["4096", 4096], ["4k", 4096], ["16k", 16384], ["1m", 1048576], [
  "64KiB",
  65536,
], ["2M", 2097152]];
for (const [value, bytes] of SIZE_CASES) {
  Deno.test(`config: max-size ${value} is ${bytes} bytes`, () => {
    const result = load(`${BASE}[mgmt]\nmax-size = ${value}\n`);
    assert(result.ok, errorLines(result).join("\n"));
    assertEquals(result.config!.mgmt.maxSize, bytes);
  });
}

Deno.test("config: renew-within = 0 means 0", () => {
  const result = load(`${BASE}[storage "f"]\ntype = file\ndirectory = /c\nrenew-within = 0\n`);
  assert(result.ok, errorLines(result).join("\n"));
  const f = result.config!.storages.get("f")!;
  assertEquals(f.type === "file" && f.renewWithinDays, 0);
});

Deno.test("config: default-storage is honoured with several storages; empty turns caching off", () => {
  const storages = '[storage "none"]\ntype = none\n[storage "file"]\ntype = file\ndirectory = /c\n';
  const named = load(`${BASE}[mgmt]\ndefault-storage = file\n${storages}`);
  assert(named.ok, errorLines(named).join("\n"));
  assertEquals(named.config!.auth[0].storage, "file");
  const off = load(`${BASE}[mgmt]\ndefault-storage =\n`);
  assert(off.ok, errorLines(off).join("\n"));
  assertEquals(off.config!.auth[0].storage, null);
  assertEquals(off.config!.storages.size, 0);
  const explicitNone = load(`${BASE}[storage "n"]\ntype = none\n`);
  assertEquals(explicitNone.config!.auth[0].storage, "n");
});

Deno.test("config: default-verification is honoured with several verifications", () => {
  const result = load(
    `${BASE}[mgmt]\ndefault-verification = dns\n[verification "http"]\ntype = http01\n` +
      '[verification "dns"]\ntype = dns01-dnsUpdate\ndns-server = 127.0.0.1:5353\n',
  );
  assert(result.ok, errorLines(result).join("\n"));
  assertEquals(result.config!.auth[0].verification, "dns");
  const http = result.config!.verifications.get("http")!;
  assertEquals(http.type === "http01" && http.listeners[0].display, "[::]:1380");
});

Deno.test("config: several verifications without a default need verification = in each block", () => {
  const result = load(
    `${BASE}[verification "h"]\ntype = http01\n[verification "d"]\ntype = dns01-dnsUpdate\ndns-server = 127.0.0.1\n`,
  );
  assert(!result.ok);
  assertMatch(result.errors[0].message, /has no verification = line and there is no default/);
  assertEquals(result.errors[0].line, 4);
});

Deno.test("config: listeners: v4, v6, zone ids, hosts-file names, the seed's mgmt= alias", () => {
  const result = load(
    `${BASE}[mgmt]\nmgmt = 127.0.0.1:1313\nlistener = [::1]:1313\nlistener = [fe80::80%eth0]:1314\nlistener = localhost:1315\n`,
  );
  assert(result.ok, errorLines(result).join("\n"));
  assertEquals(result.config!.mgmt.listeners.map((l) => [l.display, l.hostname]), [
    ["127.0.0.1:1313", "127.0.0.1"],
    ["[::1]:1313", "::1"],
    ["[fe80::80%eth0]:1314", "fe80::80%eth0"],
    ["127.0.0.1:1315", "127.0.0.1"],
    ["[::1]:1315", "::1"],
  ]);
  assert(result.notes.some((n) => n.line === 8 && /mgmt = is read as listener =/.test(n.message)));
});

Deno.test("config: a zone id naming a missing interface is a warning", () => {
  const result = load(`${BASE}[mgmt]\nlistener = [fe80::1%eth9]:1313\n`);
  assert(result.ok);
  assertEquals(result.warnings.map((w) => w.line), [8]);
  assertMatch(result.warnings[0].message, /network interface "eth9" .* does not exist on this machine/);
});

Deno.test("config: 0.0.0.0:P and [::]:P collapse into one dual-stack [::]:P listener", () => {
  const result = load(`${BASE}[verification "http"]\ntype = http01\nlistener = 0.0.0.0:1380\nlistener = [::]:1380\n`);
  assert(result.ok, errorLines(result).join("\n"));
  const http = result.config!.verifications.get("http")!;
  assertEquals(http.type === "http01" && http.listeners.map((l) => l.display), ["[::]:1380"]);
  // A warning (check-config --json lists it in warnings[]), at the 0.0.0.0 line that has no effect.
  assertEquals(result.notes.filter((n) => /collapse/.test(n.message)), []);
  const warning = result.warnings.find((w) => /collapse/.test(w.message))!;
  assertEquals(warning.line, 9);
  assertMatch(warning.message, /0\.0\.0\.0:1380 and \[::\]:1380 collapse into one \[::\]:1380 listener/);
});

Deno.test("config: the inline comment in accept-terms-of-service warns and errors on the same line", () => {
  const result = load("[account]\ndir = /a\naccept-terms-of-service = yes # or true\n");
  assert(!result.ok);
  assertEquals(result.warnings.map((w) => w.line), [3]);
  assertEquals(result.errors.map((e) => e.line), [3]);
  assertMatch(result.errors[0].message, /neither yes\/no nor the URL/);
});

Deno.test("config: auth warnings: open block, sha1", () => {
  const result = load(
    '[account]\ndir = /a\n[auth "open"]\ndomain = x.org\n[auth "sha1"]\nhmac_type = sha1\nhmac_key = 0123456789abcdefXYZ\ndomain = y.org\n',
  );
  assert(result.ok, errorLines(result).join("\n"));
  assertEquals(result.warnings.map((w) => [w.line, w.message]), [
    [
      3,
      '[auth "open"] has no ip, hmac_type/hmac_key or all line: it admits every client that can reach the mgmt listener',
    ],
    [6, '[auth "sha1"] hmac_type sha1 is weak: move clients to sha256'],
  ]);
});

Deno.test("config: auth block fields", () => {
  const result = load(`[account]
dir = /a
profile = tlsserver
[storage "f"]
type = file
directory = cache
[auth "x"]
ip = 192.0.2.0/24
ip = 2001:db8::/32
ip = ::ffff:0:0/96
hmac_type = SHA256
hmac_key = 0123456789abcdef0123
domain = Mail?.Example.org
domain = *.test.example.org
profile = shortlived
`);
  assert(result.ok, errorLines(result).join("\n"));
  const b = result.config!.auth[0];
  assertEquals(b.ips.map((n) => n.text), [
    "192.0.2.0/24",
    "2001:db8::/32",
    "0.0.0.0/0", // ::ffff:0:0/96, every IPv4-mapped address: peers are matched as IPv4
  ]);
  assertEquals(b.hmac, { type: "sha256", key: "0123456789abcdef0123" });
  assertEquals(b.domains, ["mail?.example.org", "*.test.example.org"]);
  assertEquals(b.profile, "shortlived");
  assertEquals(b.storage, "f");
  const f = result.config!.storages.get("f")!;
  assertEquals(f.type === "file" && f.directory, "/etc/acmems/cache");
});

Deno.test("config: TSIG from a tsig-keygen file, and inline", () => {
  const keyFile =
    'key "acmems-key" {\n\talgorithm hmac-sha512;\n\tsecret "3hYIGgFoN0Oh8BlsJXywGe+tRHiJXElBYQGJj8UoKbY=";\n};\n';
  const result = load(
    `${BASE}[mgmt]\ndefault-verification = f\n[verification "f"]\ntype = dns01-dnsUpdate\ndns-server = [::1]:5353\n` +
      `tsig-key-file = keys/tsig.key\n[verification "i"]\ntype = dns01-dnsUpdate\ndns-server = 127.0.0.1\n` +
      "tsig-key-name = other.\ntsig-secret = c2VjcmV0c2VjcmV0\ntransport = udp\nzone = Example.ORG.\ntimeout = 5\n",
    { "/etc/acmems/keys/tsig.key": keyFile },
  );
  assert(result.ok, errorLines(result).join("\n"));
  const f = result.config!.verifications.get("f")!;
  assert(f.type === "dns01-dnsUpdate");
  assertEquals(f.servers, [{ hostname: "::1", port: 5353, display: "[::1]:5353" }]);
  assertEquals([f.tsig?.name, f.tsig?.algorithm, f.ttl, f.timeoutMs, f.transport], [
    "acmems-key",
    "hmac-sha512",
    60,
    30_000,
    "tcp",
  ]);
  const i = result.config!.verifications.get("i")!;
  assert(i.type === "dns01-dnsUpdate");
  assertEquals([i.tsig?.name, i.tsig?.algorithm, i.zone, i.transport, i.timeoutMs, i.servers[0].port], [
    "other",
    "hmac-sha256",
    "example.org",
    "udp",
    5000,
    53,
  ]);
});

Deno.test("config: several files merge in order; a singleton set in two files names both places", () => {
  const a = "[account]\ndir = /a\naccept-terms-of-service = yes\n[mgmt]\nlistener = 127.0.0.1:4000\nmax-size = 8k\n";
  const b = '[auth "x"]\nip = 127.0.0.1\ndomain = x.org\n[mgmt]\ndefault-storage =\n';
  const merged = load([a, b]);
  assert(merged.ok, errorLines(merged).join("\n"));
  const c = merged.config!;
  assertEquals(c.files, ["/etc/acmems/a.ini", "/etc/acmems/b.ini"]);
  // The original reset acme-server and the mgmt listeners when a later file lacked them.
  assertEquals(c.mgmt.listeners.map((l) => l.display), ["127.0.0.1:4000"]);
  assertEquals(c.mgmt.maxSize, 8192);
  assertEquals(c.auth[0].storage, null);

  const clash = load([a, "[mgmt]\nmax-size = 16k\n"]);
  assert(!clash.ok);
  assertEquals(clash.errors.map((e) => `${e.file}:${e.line}: ${e.message}`), [
    "/etc/acmems/b.ini:2: [mgmt] max-size is set twice: here and at /etc/acmems/a.ini:6; keep one",
  ]);
  const twice = load([a + '[auth "x"]\nall = yes\ndomain = y.org\n', b]);
  assertEquals(twice.errors.map((e) => `${e.file}:${e.line}: ${e.message}`), [
    '/etc/acmems/b.ini:1: [auth "x"] is defined twice: here and at /etc/acmems/a.ini:7; rename one or merge them',
  ]);
});

Deno.test("config: accept-terms-of-service takes any absolute URL, kept exactly as written", () => {
  const pebble = "data:text/plain,Do%20what%20thou%20wilt";
  const result = load(
    `[account]\ndir = /a\naccept-terms-of-service = ${pebble}\naccept-terms-of-service = urn:example:terms:2024\n` +
      "accept-terms-of-service = https://CA.example/terms\n" + '[auth "a"]\nip = 127.0.0.1\ndomain = x.org\n',
  );
  assert(result.ok, errorLines(result).join("\n"));
  const tos = result.config!.account.acceptTermsOfService;
  // Not normalised (https://ca.example/terms): the CA's termsOfService is compared by exact string.
  assertEquals(tos.kind === "urls" && tos.urls, [pebble, "urn:example:terms:2024", "https://CA.example/terms"]);
  assertEquals(result.notes.filter((n) => /accept-terms-of-service/.test(n.message)), []);
});

Deno.test("config: the accept-terms-of-service note only when the option is absent", () => {
  const noteOf = (extra: string) =>
    load(`[account]\ndir = /a\n${extra}[auth "a"]\nip = 127.0.0.1\ndomain = x.org\n`).notes.filter((n) =>
      /accept-terms-of-service is not set/.test(n.message)
    );
  assertEquals(noteOf("").length, 1);
  assertEquals(noteOf("accept-terms-of-service = no\n"), []);
  const invalid = load("[account]\ndir = /a\naccept-terms-of-service = maybe\n");
  assertEquals(errorLines(invalid).length, 1);
  assertMatch(invalid.errors[0].message, /"maybe" is neither yes\/no nor the URL/);
  assertEquals(invalid.notes.filter((n) => /accept-terms-of-service/.test(n.message)), []);
});

Deno.test("config: dns-server as ip, ip:port, [v6]:port or a bare IPv6 (port 53)", () => {
  const servers = ["192.0.2.53", "192.0.2.53:5353", "[2001:db8::53]:5353", "::1", "2001:db8::53", "[::1]"];
  const result = load(
    `${BASE}[verification "d"]\ntype = dns01-dnsUpdate\n${servers.map((s) => `dns-server = ${s}\n`).join("")}`,
  );
  assert(result.ok, errorLines(result).join("\n"));
  const d = result.config!.verifications.get("d")!;
  assertEquals(d.type === "dns01-dnsUpdate" && d.servers, [
    { hostname: "192.0.2.53", port: 53, display: "192.0.2.53:53" },
    { hostname: "192.0.2.53", port: 5353, display: "192.0.2.53:5353" },
    { hostname: "2001:db8::53", port: 5353, display: "[2001:db8::53]:5353" },
    { hostname: "::1", port: 53, display: "[::1]:53" },
    { hostname: "2001:db8::53", port: 53, display: "[2001:db8::53]:53" },
    { hostname: "::1", port: 53, display: "[::1]:53" },
  ]);
});

Deno.test("config: eab-hmac-key in either base64 alphabet, padding optional", () => {
  for (const key of ["c2VjcmV0LWVhYi1rZXk", "c2VjcmV0LWVhYi1rZXk=", "+/+/c2VjcmV0", "-_-_c2VjcmV0", "YWJjZA=="]) {
    const result = load(`${BASE}[account]\neab-kid = k\neab-hmac-key = ${key}\n`);
    assert(result.ok, `${key}: ${errorLines(result).join("\n")}`);
    assertEquals(result.config!.account.eabHmacKey, key);
  }
});

Deno.test("config: durations up to their bound are accepted", () => {
  const result = load(
    `${BASE}[mgmt]\nsign-timeout = 24h\nbody-timeout = 86400\n[storage "p"]\ntype = postgres\nlease = 1h\n`,
  );
  assert(result.ok, errorLines(result).join("\n"));
  assertEquals([result.config!.mgmt.signTimeoutMs, result.config!.mgmt.bodyTimeoutMs], [86_400_000, 86_400_000]);
  const p = result.config!.storages.get("p")!;
  assertEquals(p.type === "postgres" && p.leaseMs, 3_600_000);
});
