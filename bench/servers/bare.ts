/**
 * The ceiling for the challenge benchmark: a bare Deno.serve that answers every request with a constant string
 * (as long as the benchmark's key authorization).
 *
 * Usage: deno run --allow-net bench/servers/bare.ts PORT [TEXT] [--read-url-host]
 * With --read-url-host it first reads what any answer keyed by host and token must read: the host and the path, both
 * from `request.url` (Deno.serve builds its authority from the Host header; the same calls acmems' challenge listener
 * makes), and answers 404 unless the path is under /.well-known/acme-challenge/.
 */
const args = Deno.args.filter((a) => a !== "--read-url-host");
const readUrlHost = args.length !== Deno.args.length;
const port = Number(args[0]);
const body = args[1] ?? "ok";
const PREFIX = "/.well-known/acme-challenge/";
Deno.serve(
  { hostname: "127.0.0.1", port, onListen: () => console.log(`listening ${port}`) },
  readUrlHost
    ? (request) => {
      const url = request.url;
      const authority = url.indexOf("//") + 2;
      const pathStart = url.indexOf("/", authority);
      const host = url.slice(authority, pathStart);
      if (!host || !url.startsWith(PREFIX, pathStart)) return new Response("not found", { status: 404 });
      return new Response(body, { headers: { "Content-Type": "text/plain" } });
    }
    : () => new Response(body, { headers: { "Content-Type": "text/plain" } }),
);
