/**
 * The start-up floor of `acmems serve` (issue 19): a minimal Deno program that does only what serve must do with the
 * bench config, and nothing else: read and split the INI, bind the http-01 and mgmt listeners (answering
 * `/health`), open the log file, import the account key (PKCS#8 P-256), then, as serve does once listening, fetch the
 * CA's directory and a nonce over TLS (the config's ca-file) and look the account up (a JWS-signed newAccount with
 * onlyReturnExisting) under a timeout (setTimeout). `check-config CONFIG` only reads and splits the INI.
 *
 *   deno run -A bench/probes/minimal_serve.ts serve|check-config CONFIG [--import=MODULE]
 * With --import=MODULE (a path from the working directory, e.g. /path/to/cli/serve_run.ts) it first imports that
 * module's static graph and runs nothing of it: the idle RSS it adds is what merely holding that code costs.
 * bench/probes/startup.ts measures it like main.ts: `floor=bench/probes/minimal_serve.ts`.
 */
const [command, file, ...options] = Deno.args;
// --import=MODULE: import MODULE first (its static graph, evaluated, nothing called): what holding that code costs.
const imported = options.find((o) => o.startsWith("--import="))?.slice("--import=".length);
if (imported) await import(new URL(imported, `file://${Deno.cwd()}/`).href);
const text = await Deno.readTextFile(file);
const ini = new Map<string, Map<string, string>>();
let section = new Map<string, string>();
for (const line of text.split("\n")) {
  const header = line.match(/^\s*\[(.+)\]\s*$/);
  if (header) ini.set(header[1], section = new Map());
  const entry = line.match(/^\s*([^#;=\s]+)\s*=\s*(.*?)\s*$/);
  if (entry) section.set(entry[1], entry[2]);
}
if (command === "check-config") Deno.exit(0);

const dir = file.slice(0, file.lastIndexOf("/") + 1) || "./";
const get = (s: string, k: string) => ini.get(s)?.get(k) ?? "";
const hostPort = (v: string) => ({
  hostname: v.slice(0, v.lastIndexOf(":")),
  port: Number(v.slice(v.lastIndexOf(":") + 1)),
});
const http01 = [...ini.keys()].find((s) => s.startsWith("verification"))!;
Deno.serve({ ...hostPort(get(http01, "listener")), onListen: () => {} }, () => new Response("", { status: 404 }));
Deno.serve({ ...hostPort(get("mgmt", "listener")), onListen: () => {} }, () => new Response("ok\n"));
const log = await Deno.open(`${dir}floor.log`, { create: true, append: true });
const logLine = (msg: string) => log.write(new TextEncoder().encode(`${new Date().toISOString()} INFO ${msg}\n`));
await logLine("listening");

const pem = await Deno.readTextFile(`${dir}${get("account", "dir")}/account.pem`);
const der = Uint8Array.from(atob(pem.replace(/-----[^-]+-----|\s/g, "")), (c) => c.charCodeAt(0));
const key = await crypto.subtle.importKey("pkcs8", der, { name: "ECDSA", namedCurve: "P-256" }, true, ["sign"]);
const jwk = await crypto.subtle.exportKey("jwk", key);
const b64 = (data: Uint8Array | string) =>
  btoa(String.fromCharCode(...(typeof data === "string" ? new TextEncoder().encode(data) : data)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
// A timeout on the CA's requests, as acmems has (a global setTimeout: Deno 2.9 loads node:timers for it, ~3.5 MB).
const timeout = setTimeout(() => {}, 30_000);
const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(get("account", "ca-file"))] });
const directory = await (await fetch(get("account", "acme-server"), { client })).json();
const nonce = (await fetch(directory.newNonce, { method: "HEAD", client })).headers.get("replay-nonce");
const protectedHeader = b64(JSON.stringify({
  alg: "ES256",
  jwk: { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y },
  nonce,
  url: directory.newAccount,
}));
const payload = b64(JSON.stringify({ onlyReturnExisting: true }));
const signature = new Uint8Array(
  await crypto.subtle.sign(
    { name: "ECDSA", hash: "SHA-256" },
    key,
    new TextEncoder().encode(`${protectedHeader}.${payload}`),
  ),
);
const account = await fetch(directory.newAccount, {
  method: "POST",
  client,
  headers: { "content-type": "application/jose+json" },
  body: JSON.stringify({ protected: protectedHeader, payload, signature: b64(signature) }),
});
await account.body?.cancel();
clearTimeout(timeout);
await logLine(`account ${account.status} ${account.headers.get("location")}`);
Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
