/**
 * The deployment files a user copies: compose.yaml (with contrib/compose/acmems.ini), Dockerfile (+ .dockerignore),
 * contrib/acmems.service and contrib/nginx.conf. None of them can run for real here (no Docker engine, no systemd as
 * PID 1, no port 80), so each is checked with the tool that owns its format where there is one: `systemd-analyze
 * verify` for the unit, `nginx -t` for the nginx config, `acmems check-config` for the compose config; compose.yaml
 * with a small YAML reader (block mappings and sequences, flow sequences, quoted scalars: the subset the file uses;
 * anything else is an error rather than a silent misreading) and structural checks on top.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../support/assert.ts";
import { run, runChecked } from "../support/process.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const path = (p: string) => `${ROOT}${p}`;

// --- a YAML subset reader -------------------------------------------------------------------------------------------

type Yaml = string | number | boolean | null | Yaml[] | { [key: string]: Yaml };
type YamlMap = { [key: string]: Yaml };

interface YamlLine {
  no: number;
  indent: number;
  text: string;
}

class YamlError extends Error {}

/** Text before a ` #` comment that is outside quotes. */
function stripComment(text: string): string {
  let quote = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === "\\" && quote === '"') i++;
      else if (c === quote) quote = "";
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "#" && (i === 0 || text[i - 1] === " ")) return text.slice(0, i);
  }
  return text;
}

/** Splits a flow sequence body on top-level commas. */
function splitFlow(body: string, no: number): string[] {
  const parts: string[] = [];
  let quote = "";
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (quote) {
      if (c === "\\" && quote === '"') i++;
      else if (c === quote) quote = "";
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "[" || c === "{") throw new YamlError(`line ${no}: nested flow collections are not supported`);
    else if (c === ",") {
      parts.push(body.slice(start, i));
      start = i + 1;
    }
  }
  if (quote) throw new YamlError(`line ${no}: unterminated quote`);
  const last = body.slice(start);
  if (last.trim() !== "" || parts.length > 0) parts.push(last);
  return parts.map((p) => p.trim());
}

function scalar(raw: string, no: number): Yaml {
  const v = raw.trim();
  if (v.startsWith('"')) {
    if (!/^"(?:[^"\\]|\\.)*"$/.test(v)) throw new YamlError(`line ${no}: bad double-quoted scalar ${v}`);
    return JSON.parse(v);
  }
  if (v.startsWith("'")) {
    if (!/^'(?:[^']|'')*'$/.test(v)) throw new YamlError(`line ${no}: bad single-quoted scalar ${v}`);
    return v.slice(1, -1).replaceAll("''", "'");
  }
  if (v.startsWith("[")) {
    if (!v.endsWith("]")) throw new YamlError(`line ${no}: unterminated flow sequence`);
    return splitFlow(v.slice(1, -1), no).map((p) => scalar(p, no));
  }
  if (/^[{|>&*!%@`]/.test(v)) throw new YamlError(`line ${no}: unsupported YAML construct ${v}`);
  if (v === "" || v === "~" || v === "null") return null;
  if (v === "true") return true;
  if (v === "false") return false;
  if (/^-?[0-9]+$/.test(v)) return Number(v);
  if (/: |:$/.test(v)) throw new YamlError(`line ${no}: plain scalar contains ": " (quote it): ${v}`);
  return v;
}

const KEY = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s"'#\-?:,[\]{}][^:#]*?|-[^\s:#][^:#]*?)\s*:(?:\s+(.*))?$/;

function parseYaml(source: string): Yaml {
  const lines: YamlLine[] = [];
  source.split("\n").forEach((raw, i) => {
    const no = i + 1;
    if (/^\s*(#.*)?$/.test(raw)) return;
    const indent = raw.match(/^ */)![0].length;
    if (raw[indent] === "\t") throw new YamlError(`line ${no}: tab in indentation`);
    if (raw.startsWith("---") || raw.startsWith("...")) throw new YamlError(`line ${no}: one document only`);
    lines.push({ no, indent, text: stripComment(raw.slice(indent)).trimEnd() });
  });
  let pos = 0;
  const isItem = (t: string) => t === "-" || t.startsWith("- ");

  const block = (indent: number): Yaml => isItem(lines[pos].text) ? sequence(indent) : mapping(indent);

  /** The value of `key:` with nothing after the colon: a deeper block, a sequence at the same indent, or null. */
  const nested = (indent: number, allowSameIndentSequence: boolean): Yaml => {
    const next = lines[pos];
    if (!next) return null;
    if (next.indent > indent) return block(next.indent);
    if (allowSameIndentSequence && next.indent === indent && isItem(next.text)) return sequence(indent);
    return null;
  };

  const sequence = (indent: number): Yaml[] => {
    const items: Yaml[] = [];
    while (pos < lines.length && lines[pos].indent === indent && isItem(lines[pos].text)) {
      const line = lines[pos];
      const rest = line.text.slice(1).trimStart();
      if (rest === "") {
        pos++;
        items.push(nested(indent, false));
      } else if (KEY.test(rest)) {
        // "- key: value": a mapping whose first key sits after the dash.
        const at = indent + (line.text.length - rest.length);
        lines[pos] = { no: line.no, indent: at, text: rest };
        items.push(mapping(at));
      } else {
        pos++;
        items.push(scalar(rest, line.no));
      }
    }
    return items;
  };

  const mapping = (indent: number): YamlMap => {
    const out: YamlMap = {};
    while (pos < lines.length && lines[pos].indent === indent && !isItem(lines[pos].text)) {
      const line = lines[pos];
      const m = line.text.match(KEY);
      if (!m) throw new YamlError(`line ${line.no}: expected "key: value", got ${line.text}`);
      const key = String(scalar(m[1], line.no));
      if (Object.hasOwn(out, key)) throw new YamlError(`line ${line.no}: duplicate key ${key}`);
      pos++;
      out[key] = m[2] === undefined || m[2] === "" ? nested(indent, true) : scalar(m[2], line.no);
    }
    return out;
  };

  if (lines.length === 0) return null;
  const top = block(lines[0].indent);
  if (pos < lines.length) {
    throw new YamlError(`line ${lines[pos].no}: unexpected indentation or content: ${lines[pos].text}`);
  }
  return top;
}

function asMap(value: Yaml | undefined, what: string): YamlMap {
  assert(value !== null && typeof value === "object" && !Array.isArray(value), `${what} must be a mapping`);
  return value as YamlMap;
}

function asList(value: Yaml | undefined, what: string): Yaml[] {
  assert(Array.isArray(value), `${what} must be a sequence`);
  return value;
}

Deno.test("the YAML subset reader reads what it supports and refuses the rest", () => {
  assertEquals(
    parseYaml(`# comment
a: 1
b:
  - x
  - "y # not a comment"
  - k: v
    l: [p, "q", '']
c:
- 'it''s'
d: plain text # comment
e:
`),
    { a: 1, b: ["x", "y # not a comment", { k: "v", l: ["p", "q", ""] }], c: ["it's"], d: "plain text", e: null },
  );
  for (const bad of ["a: 1\n  b: 2\n", "a: 1\na: 2\n", "a: |\n  x\n", "a:\n\t- x\n", "a: {b: 1}\n", "- a\nb: 1\n"]) {
    let threw = false;
    try {
      parseYaml(bad);
    } catch (e) {
      threw = e instanceof YamlError;
    }
    assert(threw, `should be refused: ${JSON.stringify(bad)}`);
  }
});

// --- compose.yaml -----------------------------------------------------------------------------------------------------

/** The INI value(s) of `key` in `[section]` (quotes around the section name optional). */
function iniValues(text: string, section: string, key: string): string[] {
  const values: string[] = [];
  let current = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const s = line.match(/^\[\s*([^\]]+?)\s*\]$/);
    if (s) {
      const named = s[1].match(/^(\S+)(?:\s+"?([^"]*?)"?)?$/);
      current = named?.[2] ? `${named[1]} "${named[2]}"` : s[1];
      continue;
    }
    const kv = line.match(/^([^=]+?)\s*=\s*(.*)$/);
    if (kv && current === section && kv[1] === key) values.push(kv[2]);
  }
  return values;
}

function ipv4ToInt(ip: string): number {
  const parts = ip.split(".").map(Number);
  assertEquals(parts.length, 4, `${ip} is not an IPv4 address`);
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

function inSubnet(ip: string, cidr: string): boolean {
  const [net, bits] = cidr.split("/");
  const mask = Number(bits) === 0 ? 0 : (0xffffffff << (32 - Number(bits))) >>> 0;
  return ((ipv4ToInt(ip) & mask) >>> 0) === ((ipv4ToInt(net) & mask) >>> 0);
}

Deno.test("compose.yaml: acmems, pebble and challtestsrv wired to each other", async () => {
  const compose = asMap(parseYaml(await Deno.readTextFile(path("compose.yaml"))), "compose.yaml");
  for (const key of Object.keys(compose)) {
    assert(["name", "services", "volumes", "networks"].includes(key) || key.startsWith("x-"), `top-level ${key}`);
  }
  const services = asMap(compose.services, "services");
  assertEquals(Object.keys(services).sort(), ["acmems", "challtestsrv", "pebble"]);
  const volumes = asMap(compose.volumes, "volumes");
  const networks = asMap(compose.networks, "networks");
  const subnet = String(
    asMap(asList(asMap(asMap(networks.acmenet, "acmenet").ipam, "ipam").config, "ipam.config")[0], "config").subnet,
  );
  assertMatch(subnet, /^\d+\.\d+\.\d+\.\d+\/\d+$/);

  const addresses: Record<string, string> = {};
  for (const [name, value] of Object.entries(services)) {
    const service = asMap(value, `services.${name}`);
    assert(typeof service.image === "string" || service.build !== undefined, `${name}: image or build`);
    for (const dep of asList(service.depends_on ?? [], `${name}.depends_on`)) {
      assert(typeof dep === "string" && dep in services, `${name} depends on unknown service ${dep}`);
    }
    for (const v of asList(service.volumes ?? [], `${name}.volumes`)) {
      const [source] = String(v).split(":");
      if (source.startsWith(".") || source.startsWith("/")) {
        assert((await Deno.stat(path(source.replace(/^\.\//, "")))).isFile, `${name}: bind source ${source} exists`);
      } else {
        assert(source in volumes, `${name}: volume ${source} is declared under volumes:`);
      }
    }
    for (const p of asList(service.ports ?? [], `${name}.ports`)) {
      assertMatch(String(p), /^127\.0\.0\.1:\d+:\d+$/, `${name}: ports are published on loopback only`);
    }
    const nets = asMap(service.networks, `${name}.networks`);
    assertEquals(Object.keys(nets), ["acmenet"]);
    addresses[name] = String(asMap(nets.acmenet, `${name}.networks.acmenet`).ipv4_address);
    assert(inSubnet(addresses[name], subnet), `${name}'s address ${addresses[name]} is in ${subnet}`);
  }
  assertEquals(new Set(Object.values(addresses)).size, 3, "distinct addresses");

  // Images pinned to the pebble the tests run against (tests/support/pebble.ts: 2.10).
  const pebble = asMap(services.pebble, "pebble");
  const challtestsrv = asMap(services.challtestsrv, "challtestsrv");
  assertMatch(String(pebble.image), /^ghcr\.io\/letsencrypt\/pebble:2\.10\.\d+$/);
  assertMatch(String(challtestsrv.image), /^ghcr\.io\/letsencrypt\/pebble-challtestsrv:2\.10\.\d+$/);
  const pebbleArgs = asList(pebble.command, "pebble.command").map(String);
  assertEquals(pebbleArgs[pebbleArgs.indexOf("-dnsserver") + 1], `${addresses.challtestsrv}:8053`);
  const challArgs = asList(challtestsrv.command, "challtestsrv.command").map(String);
  assertEquals(challArgs[challArgs.indexOf("-defaultIPv4") + 1], addresses.acmems, "names resolve to acmems");
  assert(asList(pebble.volumes, "pebble.volumes").includes("pebble-certs:/test/certs"), "pebble shares its CA");

  const acmems = asMap(services.acmems, "acmems");
  const build = asMap(acmems.build, "acmems.build");
  assertEquals(build.context, ".");
  assert((await Deno.stat(path(String(build.dockerfile ?? "Dockerfile")))).isFile, "the Dockerfile exists");
  assert(asList(acmems.depends_on, "acmems.depends_on").includes("pebble"), "acmems starts after pebble");
  const mounts = asList(acmems.volumes, "acmems.volumes").map(String);
  const configMount = mounts.find((m) => m.endsWith(":/etc/acmems/acmems.ini:ro"));
  assert(configMount, "the config is mounted read-only at /etc/acmems/acmems.ini");
  assert(mounts.includes("acmems-state:/var/lib/acmems"), "state volume");
  const certsMount = mounts.find((m) => m.startsWith("pebble-certs:"))?.split(":")[1];
  assert(certsMount, "acmems mounts pebble's certs");
  assertEquals(asList(acmems.command, "acmems.command"), ["serve", "/etc/acmems/acmems.ini"]);

  // The config the compose file mounts: consistent with the compose file, and valid for acmems.
  const iniFile = path(configMount.split(":")[0].replace(/^\.\//, ""));
  const ini = await Deno.readTextFile(iniFile);
  assertEquals(iniValues(ini, "account", "acme-server"), ["https://pebble:14000/dir"]);
  assertEquals(iniValues(ini, "account", "ca-file"), [`${certsMount}/pebble.minica.pem`]);
  const mgmt = iniValues(ini, "mgmt", "listener");
  assertEquals(mgmt, ["0.0.0.0:1313"]);
  assert(asList(acmems.ports, "acmems.ports").includes("127.0.0.1:1313:1313"), "mgmt port published");
  assertEquals(iniValues(ini, 'verification "http"', "listener"), ["0.0.0.0:5002"], "pebble's http-01 port");
  assert(iniValues(ini, "account", "dir")[0].startsWith("/var/lib/acmems/"), "account on the state volume");
  assertEquals(iniValues(ini, 'auth "compose"', "ip"), [subnet], "the compose network may ask");

  const check = await run(Deno.execPath(), [
    "run",
    "--allow-all",
    "--quiet",
    path("main.ts"),
    "check-config",
    "--json",
    iniFile,
  ]);
  const result = JSON.parse(check.stdout);
  assertEquals(result.ok, true, check.output);
  assertEquals(result.errors, []);
  // The CA file lives in the pebble container; nothing else may be worth a warning.
  for (const w of result.warnings) assertStringIncludes(w.message, "ca-file", JSON.stringify(w));
});

// --- Dockerfile -------------------------------------------------------------------------------------------------------

Deno.test("Dockerfile: deno compile in a build stage, a slim runtime as a non-root user", async () => {
  const text = await Deno.readTextFile(path("Dockerfile"));
  const lines = text.replace(/\\\n/g, " ").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const stages = lines.map((l, i) => ({ l, i })).filter(({ l }) => /^FROM\s/i.test(l));
  assert(stages.length >= 2, "a build stage and a runtime stage");
  const final = lines.slice(stages[stages.length - 1].i);
  const build = lines.slice(stages[0].i, stages[1].i);

  assert(build.some((l) => /^RUN\s.*\bdeno compile\b/.test(l) && /--frozen/.test(l)), "deno compile --frozen");
  const output = build.join(" ").match(/deno compile\b.*?--output[= ](\S+)/)?.[1];
  assert(output, "deno compile --output PATH");
  assertMatch(stages[stages.length - 1].l, /^FROM\s+\S*(slim|distroless)\S*/i, "slim runtime image");
  assert(final.some((l) => l.startsWith("COPY --from=build") && l.includes(output)), "the binary is copied over");

  const users = final.filter((l) => /^USER\s/i.test(l));
  assert(users.length > 0, "the runtime stage sets USER");
  const user = users[users.length - 1].split(/\s+/)[1];
  assert(!/^(root|0)(:|$)/.test(user), `USER ${user} is not root`);

  // Pinned to the Deno the project uses (README: npm install -g deno@X).
  const readmeDeno = (await Deno.readTextFile(path("README.md"))).match(/deno@(\d+\.\d+\.\d+)/)?.[1];
  assertEquals(text.match(/ARG DENO_VERSION=(\S+)/)?.[1], readmeDeno);

  // What the build copies exists and is not excluded by .dockerignore.
  const ignore = (await Deno.readTextFile(path(".dockerignore"))).split("\n").map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  for (const l of build.filter((l) => /^COPY\s/.test(l) && !l.includes("--from"))) {
    const sources = l.split(/\s+/).slice(1, -1);
    for (const source of sources) {
      await Deno.stat(path(source));
      const top = source.replace(/\/$/, "").split("/")[0];
      assert(!ignore.includes(top), `.dockerignore excludes ${source}`);
    }
  }
  for (const must of [".git", ".work", "dist", "node_modules"]) assert(ignore.includes(must), `.dockerignore ${must}`);
  const entry = final.find((l) => l.startsWith("ENTRYPOINT"));
  assert(entry?.includes("/usr/local/bin/acmems"), "ENTRYPOINT runs the binary");
});

// --- contrib/acmems.service ---------------------------------------------------------------------------------------------

Deno.test("contrib/acmems.service passes systemd-analyze verify and has the hardening", async () => {
  const unit = await Deno.readTextFile(path("contrib/acmems.service"));
  const directives = new Map<string, string[]>();
  for (const line of unit.split("\n")) {
    const m = line.match(/^([A-Za-z]+)=(.*)$/);
    if (m) directives.set(m[1], [...(directives.get(m[1]) ?? []), m[2]]);
  }
  const one = (key: string) => directives.get(key)?.join(" ");
  assertEquals(one("DynamicUser"), "yes");
  assertEquals(one("ProtectSystem"), "strict");
  assertEquals(one("ExecReload"), "/bin/kill -HUP $MAINPID");
  assertEquals(one("ExecStart"), "/usr/local/bin/acmems serve /etc/acmems/acmems.ini");
  const state = one("StateDirectory")!.split(/\s+/);
  assert(state.includes("acmems"), "StateDirectory=acmems");
  const rw = one("ReadWritePaths")!.split(/\s+/);
  for (const dir of ["account", "cache"]) {
    assert(rw.includes(`/var/lib/acmems/${dir}`), `ReadWritePaths has /var/lib/acmems/${dir}`);
    assert(state.includes(`acmems/${dir}`), `StateDirectory creates acmems/${dir}`);
  }

  // verify insists that ExecStart's binary exists: point it at a stub, change nothing else. systemd-analyze must be
  // installed (.ci/install-peers.sh installs systemd): a missing tool fails the test.
  const dir = await Deno.makeTempDir({ prefix: "acmems-unit-" });
  try {
    const stub = `${dir}/acmems`;
    await Deno.writeTextFile(stub, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const copy = unit.replace(/^ExecStart=\/usr\/local\/bin\/acmems /m, `ExecStart=${stub} `);
    assert(copy !== unit, "ExecStart= points at the stub");
    await Deno.writeTextFile(`${dir}/acmems.service`, copy);
    const verify = await runChecked("systemd-analyze", ["verify", "--man=no", `${dir}/acmems.service`], { cwd: dir });
    assertEquals(verify.output.trim(), "", "systemd-analyze verify prints no warnings");

    // The check has teeth: an unknown directive is reported.
    await Deno.writeTextFile(`${dir}/acmems.service`, copy.replace("[Service]\n", "[Service]\nProtectSytem=strict\n"));
    const bad = await run("systemd-analyze", ["verify", "--man=no", `${dir}/acmems.service`], { cwd: dir });
    assertStringIncludes(bad.output, "ProtectSytem");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// --- contrib/nginx.conf ---------------------------------------------------------------------------------------------------

Deno.test("contrib/nginx.conf passes nginx -t and forwards challenges like the README's snippet", async () => {
  const conf = await Deno.readTextFile(path("contrib/nginx.conf"));
  const location = conf.match(/location \/\.well-known\/acme-challenge\/ \{([^}]*)\}/)?.[1];
  assert(location, "a location block for /.well-known/acme-challenge/");
  const statements = location.split("\n").map((l) => l.replace(/#.*/, "").trim()).filter(Boolean);
  assertEquals(statements, [
    "proxy_set_header Host $http_host;",
    "proxy_set_header X-Real-IP $remote_addr;",
    "proxy_pass http://acme-mgmtserver;",
    "proxy_next_upstream error timeout http_404;",
  ]);
  assertMatch(conf, /upstream acme-mgmtserver \{[^}]*server [^;]+ max_fails=0;/);

  const dir = await Deno.makeTempDir({ prefix: "acmems-nginx-conf-" });
  try {
    // -p: relative paths; -e: never /var/log/nginx/error.log; -g pid: never /run/nginx.pid (both need root).
    const args = (file: string) => [
      "-t",
      "-q",
      "-p",
      `${dir}/`,
      "-e",
      `${dir}/error.log`,
      "-g",
      `pid ${dir}/nginx.pid;`,
      "-c",
      file,
    ];
    await runChecked("/usr/sbin/nginx", args(path("contrib/nginx.conf")));
    // The check has teeth: a broken copy fails.
    await Deno.writeTextFile(
      `${dir}/broken.conf`,
      conf.replace("proxy_next_upstream error", "proxy_next_upstream eror"),
    );
    const bad = await run("/usr/sbin/nginx", args(`${dir}/broken.conf`));
    assert(bad.code !== 0, "nginx -t refuses a broken config");
    assertStringIncludes(bad.output, "eror");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
