/**
 * The ceiling for `/sign` cache hits: the least a hit must do, in a bare Deno.serve. It reads the POST body, checks
 * its HMAC (crypto.subtle, key imported once; the `hash=` value of the Authentication header) and answers a
 * constant body with the same length and content type as acmems' certificate chain. No CSR parsing, no cache
 * lookup, no log line. Usage: deno run --allow-net --allow-read bench/servers/bare_post.ts PORT HMAC_KEY CHAIN_FILE
 */
const [port, hmacKey, chainFile] = Deno.args;
const chain = await Deno.readTextFile(chainFile);
const key = await crypto.subtle.importKey(
  "raw",
  new TextEncoder().encode(hmacKey),
  { name: "HMAC", hash: "SHA-256" },
  false,
  ["verify"],
);
const HEX = /hash=([0-9a-f]{64})/;

Deno.serve(
  { hostname: "127.0.0.1", port: Number(port), onListen: () => console.log(`listening ${port}`) },
  async (r) => {
    const body = await r.bytes();
    const hex = HEX.exec(r.headers.get("authentication") ?? "")?.[1];
    const mac = Uint8Array.from(hex?.match(/../g) ?? [], (h) => parseInt(h, 16));
    if (mac.length !== 32 || !await crypto.subtle.verify("HMAC", key, mac, body)) {
      return new Response("forbidden\n", { status: 403 });
    }
    return new Response(chain, { headers: { "Content-Type": "application/pem-certificate-chain" } });
  },
);
