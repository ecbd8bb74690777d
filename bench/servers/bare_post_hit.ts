/**
 * The "documented hit" ceiling for `/sign` cache hits: bare_post.ts plus only what acmems' README promises for every
 * hit, done the cheapest way a bare Deno.serve can: the body read whole under a body timeout (`request.bytes()`:
 * Deno's HTTP server delivers exactly Content-Length bytes, checked against max-size first; acmems reads its
 * listeners' bodies so since the seventh bench round, before through a reader bounded by Content-Length), the HMAC
 * remembered per body digest (as acmems does), one `stat` of the cache file (a changed entry is seen by the next request), the four response headers
 * (Content-Type and the X-Acmems-* hints) and one audit line per request, written to a file in batches. No CSR
 * parsing, no auth blocks, no cache logic, no metrics.
 *
 * Usage: deno run --allow-net --allow-read --allow-write bench/servers/bare_post_hit.ts PORT HMAC_KEY CHAIN_FILE LOG_FILE
 */
const [port, hmacKey, chainFile, logFile] = Deno.args;
const chain = await Deno.readTextFile(chainFile);
const key = await crypto.subtle.importKey(
  "raw",
  new TextEncoder().encode(hmacKey),
  { name: "HMAC", hash: "SHA-256" },
  false,
  ["verify"],
);
const HEX = /hash=([0-9a-f]{64})/;
const verified = new Map<string, Uint8Array<ArrayBuffer>>();
const log = Deno.openSync(logFile, { append: true, create: true });
const encoder = new TextEncoder();
let pending = "";
// Lines are written in batches, at most 5 ms after they were logged.
setInterval(() => {
  if (pending === "") return;
  log.writeSync(encoder.encode(pending));
  pending = "";
}, 5);
// Body deadlines are checked by one sweeper every 100 ms, not a timer per request.
const reading = new Set<{ deadline: number; expire: () => void }>();
setInterval(() => {
  const now = Date.now();
  for (const r of reading) if (r.deadline <= now) reading.delete(r), r.expire();
}, 100);
const renewAfter = new Date(Date.now() + 40 * 86400_000).toISOString().slice(0, 19) + "Z";
const windowText = `${renewAfter}/${new Date(Date.now() + 50 * 86400_000).toISOString().slice(0, 19)}Z`;

/** The body whole (Deno's HTTP server frames it by Content-Length), or an error at the time limit. */
async function readFramed(request: Request, length: number, timeoutMs: number): Promise<Uint8Array<ArrayBuffer>> {
  const bytes = request.bytes();
  const body = await new Promise<Uint8Array<ArrayBuffer>>((resolve, reject) => {
    const entry = { deadline: Date.now() + timeoutMs, expire: () => reject(new Error("body timeout")) };
    reading.add(entry);
    bytes.then((b) => (reading.delete(entry), resolve(b)), (e) => (reading.delete(entry), reject(e)));
  });
  if (body.length !== length) throw new Error("length differs from Content-Length");
  return body;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

Deno.serve(
  { hostname: "127.0.0.1", port: Number(port), onListen: () => console.log(`listening ${port}`) },
  async (r, info) => {
    const started = Date.now();
    const length = Number(r.headers.get("content-length"));
    if (!(length <= 65536)) return new Response("too large\n", { status: 413 });
    const body = await readFramed(r, length, 10_000);
    const hex = HEX.exec(r.headers.get("authentication") ?? "")?.[1] ?? "";
    const known = verified.get(hex);
    if (!known || !sameBytes(known, body)) {
      const mac = Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));
      if (mac.length !== 32 || !await crypto.subtle.verify("HMAC", key, mac, body)) {
        return new Response("forbidden\n", { status: 403 });
      }
      verified.set(hex, body);
    }
    Deno.statSync(chainFile);
    pending += `${new Date().toISOString()} INFO    sign client=${info.remoteAddr.hostname} status=200 block=bench ` +
      `names=sign.example.test outcome="cache hit" durationMs=${Date.now() - started} cache=hit errorId=null ` +
      `closest=null reason=null\n`;
    return new Response(chain, {
      headers: {
        "Content-Type": "application/pem-certificate-chain",
        "X-Acmems-Cache": "hit",
        "X-Acmems-Renew-After": renewAfter,
        "X-Acmems-Renewal-Window": windowText,
      },
    });
  },
);
