/**
 * Fuzz: the config layer (`loadConfig`, `parseIni` + `buildConfig`) only ever answers with config diagnostics.
 *
 * Inputs: random bytes (invalid UTF-8, NULs, BOMs) written to a real file and loaded as `serve` loads it; and valid
 * configs (the shipped example, the seed fixture, a config using every option) mutated line- and character-wise.
 * Properties: never throws; `ok` exactly when there are no errors, with a config; every diagnostic has a file, an
 * integer line within the file and a non-empty one-line message; a valid config renders (`configSummary`,
 * `configToJson`) and its invariants hold (globs compile, sizes and timeouts positive, every block has a domain and
 * resolves to a configured verification and storage, secrets never appear in the rendered summary).
 */
import { assert } from "../support/assert.ts";
import { loadConfig, systemEnvironment } from "../../src/config/load.ts";
import { parseIni } from "../../src/config/ini.ts";
import { buildConfig } from "../../src/config/build.ts";
import { configSummary, configToJson, formatDiagnostic, resultToJson } from "../../src/config/summary.ts";
import type { ConfigResult, Diagnostic } from "../../src/config/types.ts";
import { compilePolicy } from "../../src/policy/authorize.ts";
import { mutateText, type Rng, runCases } from "./_fuzz.ts";

const ROOT = new URL("../../", import.meta.url);
const EXAMPLE = await Deno.readTextFile(new URL("configs/acmems.example.ini", ROOT));
const SEED_FIXTURE = await Deno.readTextFile(new URL("tests/fixtures/seed-example.ini", ROOT));

/** Every section type and (nearly) every option, valid as written. */
const EVERYTHING = `[account]
acme-server = https://acme.example.test/directory
dir = account
accept-terms-of-service = yes
email = ops@example.test
email = mailto:sec@example.test
profile = tlsserver
[mgmt]
listener = 127.0.0.1:1313
listener = [::1]:1313
max-size = 16k
default-verification = http
default-storage = cache
sign-timeout = 2m
trusted-proxy = 192.0.2.0/24
trusted-proxy = 2001:db8::/32
metrics-listener = 127.0.0.1:9313
metrics-ip = 127.0.0.0/8
body-timeout = 5s
max-inflight = 64
[logging]
level = debug
format = json
destination = stderr
[verification "http"]
type = http01
listener = 127.0.0.1:1380
[verification "dns"]
type = dns01-dnsUpdate
dns-server = 127.0.0.1:5353
dns-server = [::1]:53
ttl = 30
timeout = 20s
zone = example.test
transport = udp
tsig-key-name = acmems-key
tsig-algorithm = hmac-sha512
tsig-secret = c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==
[storage "cache"]
type = file
directory = cache
renew-within = 20
renew-active-days = 10
[storage "none"]
type = none
[storage "second"]
type = file
directory = /var/lib/acmems/second
[notify "hook"]
type = webhook
url = https://hooks.example.test/acmems/token-abc
events = issue-failed
events = expiring
timeout = 5s
retries = 2
expiring-days = 10
[notify "mail"]
type = exec
command = /usr/bin/logger -t acmems
events = renewal-failed
[auth "office"]
ip = 192.0.2.0/24
ip = 2001:db8::/48
domain = *.office.example.test
domain = office.example.test
[auth "secure"]
hmac_type = sha384
hmac_key = secret-hmac-key-0123456789
domain = ?ail.example.test
domain = [a-c]x.example.test
verification = dns
storage = second
profile = shortlived
[auth "everyone"]
all = yes
domain = *.public.example.test
storage = none
`;

const SEEDS = [EXAMPLE, SEED_FIXTURE, EVERYTHING];
const SECRETS = [
  "A1YP67armNf3cBrecyJHdb035",
  "secret-hmac-key-0123456789",
  "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==",
];

const TOKENS = [
  "[",
  "]",
  '"',
  "=",
  " = ",
  "#",
  ";",
  "\n",
  "\r\n",
  "\r",
  "\t",
  " ",
  "\0",
  "\uFEFF",
  "\u2028",
  "\u00e9",
  "\ud800",
  "*",
  "?",
  "[!",
  "%eth0",
  "::",
  "/33",
  "/129",
  "0",
  "-1",
  "99999999999999999999",
  "1e309",
  "NaN",
  "k",
  "m",
  "KiB",
  "s",
  "ms",
  "yes",
  "no",
  "[auth ",
  "[storage ",
  "[verification ",
  "[notify ",
  "[account]\n",
  "[mgmt]\n",
  "type = ",
  "domain = ",
  "ip = ",
  "hmac_type = md5\n",
  "hmac_key = \n",
  "listener = ",
  "dir = ",
  "directory = ",
  "verification = ",
  "storage = ",
  "profile = ",
  "default-storage = \n",
  "default-verification = \n",
  "tsig-key-file = /nonexistent\n",
  "ca-file = /etc/hostname\n",
  "acme-server = https://acme-v01.api.letsencrypt.org/directory\n",
  "all = yes\n",
];

function checkDiagnostic(d: Diagnostic, lines: Map<string, number>, what: string): void {
  assert(typeof d.file === "string", `${what}: diagnostic without file: ${JSON.stringify(d)}`);
  assert(Number.isInteger(d.line) && d.line >= 0, `${what}: bad line ${d.line}`);
  const max = lines.get(d.file);
  if (max !== undefined) assert(d.line <= max + 1, `${what}: line ${d.line} beyond the file's ${max} lines`);
  assert(typeof d.message === "string" && d.message.trim() !== "", `${what}: empty message`);
  assert(!/[\r\n]/.test(d.message), `${what}: multi-line message ${JSON.stringify(d.message)}`);
  formatDiagnostic(d, what as "error");
}

/** The properties every result must have. Returns an outcome label. */
function checkResult(result: ConfigResult, lines: Map<string, number>): string {
  assert(result.ok === (result.errors.length === 0), `ok=${result.ok} with ${result.errors.length} errors`);
  for (const d of result.errors) checkDiagnostic(d, lines, "error");
  for (const d of result.warnings) checkDiagnostic(d, lines, "warning");
  for (const d of result.notes) checkDiagnostic(d, lines, "note");
  JSON.stringify(resultToJson(result));
  if (!result.ok) return "errors";
  const config = result.config;
  assert(config, "ok without a config");
  const summary = configSummary(config);
  const json = JSON.stringify(configToJson(config));
  for (const secret of SECRETS) {
    assert(!summary.includes(secret) && !json.includes(secret), `a secret is printed by the summary`);
  }
  assert(compilePolicy(config.auth).errors.length === 0, "a valid config has a glob that does not compile");
  assert(config.mgmt.maxSize > 0 && Number.isFinite(config.mgmt.maxSize), `max-size ${config.mgmt.maxSize}`);
  assert(config.mgmt.signTimeoutMs > 0 && Number.isFinite(config.mgmt.signTimeoutMs), "sign-timeout");
  assert(config.mgmt.bodyTimeoutMs > 0 && Number.isFinite(config.mgmt.bodyTimeoutMs), "body-timeout");
  assert(config.mgmt.maxInflight >= 1 && Number.isInteger(config.mgmt.maxInflight), "max-inflight");
  assert(config.mgmt.listeners.length > 0, "no mgmt listener");
  for (const block of config.auth) {
    assert(block.domains.length > 0, `auth "${block.name}" without domain`);
    assert(config.verifications.has(block.verification), `auth "${block.name}": unknown verification`);
    assert(block.storage === null || config.storages.has(block.storage), `auth "${block.name}": unknown storage`);
    if (block.hmac) {
      assert(block.hmac.key.length > 0, `auth "${block.name}": empty HMAC key`);
      assert(["sha1", "sha256", "sha384", "sha512"].includes(block.hmac.type), `hmac_type ${block.hmac.type}`);
    }
  }
  for (const l of [...config.mgmt.listeners, ...config.mgmt.metricsListeners]) {
    assert(Number.isInteger(l.port) && l.port >= 0 && l.port <= 65535, `listener port ${l.port}`);
  }
  return "ok";
}

function lineCounts(files: Record<string, string>): Map<string, number> {
  return new Map(Object.entries(files).map(([f, t]) => [f, t.split(/\r\n|\r|\n/).length]));
}

function build(files: Record<string, string>): ConfigResult {
  const documents = Object.entries(files).map(([file, text]) => ({ file, document: parseIni(text, file) }));
  return buildConfig(documents, systemEnvironment());
}

Deno.test("fuzz: config files of random bytes only give config errors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-fuzz-config-" });
  try {
    await runCases("config random bytes", async (rng: Rng, index) => {
      const file = `${dir}/c${index % 8}.ini`;
      const bytes = rng.bool(0.5) ? rng.bytes(rng.length(2048)) : new TextEncoder().encode(
        rng.string(rng.length(2048), '[]="#;\n \t*?abcdefghijklmnopqrstuvwxyz.:/0123456789-_'),
      );
      await Deno.writeFile(file, bytes);
      const result = await loadConfig([file]);
      const text = new TextDecoder().decode(bytes);
      return checkResult(result, lineCounts({ [file]: text }));
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fuzz: mutated valid configs only give config errors, and valid results hold the invariants", async () => {
  // The seed fixture is the original ACMEMS's config (refused on purpose); the other two must be valid.
  for (const seed of [EXAMPLE, EVERYTHING]) {
    const files = { "/etc/acmems/acmems.ini": seed };
    const result = build(files);
    assert(result.ok, `the seed config is valid: ${result.errors.map((e) => formatDiagnostic(e, "error")).join("\n")}`);
  }
  await runCases("config mutations", (rng: Rng) => {
    const files: Record<string, string> = {};
    // Sometimes two files merged (repeated options across files are errors naming both places).
    const count = rng.bool(0.2) ? 2 : 1;
    for (let i = 0; i < count; i++) {
      files[`/etc/acmems/${"ab"[i]}.ini`] = mutateText(rng.pick(SEEDS), rng, TOKENS);
    }
    return checkResult(build(files), lineCounts(files));
  });
});
