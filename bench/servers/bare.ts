/**
 * The ceiling for the challenge benchmark: a bare Deno.serve that answers every request with a constant string
 * (as long as the benchmark's key authorization).
 *
 * Usage: deno run --allow-net bench/servers/bare.ts PORT [TEXT] [--read-url-host | --take-request]
 * The plain handler takes no parameter (Deno.serve 2.9, ext/http/00_serve.ts, has a path that calls such a handler
 * without building a Request for it, when `op_http_is_raw_request` says so). With --take-request the handler takes the
 * request and reads nothing of it, as any handler that looks at the request must be written. With --read-url-host it first reads what any answer
 * keyed by host and token must read: the host and the path, both from `request.url` (Deno.serve builds its authority
 * from the Host header; the same calls acmems' challenge listener makes), and answers 404 unless the path is under
 * /.well-known/acme-challenge/.
 */
const flags = ["--read-url-host", "--take-request"];
const args = Deno.args.filter((a) => !flags.includes(a));
const readUrlHost = Deno.args.includes("--read-url-host");
const takeRequest = Deno.args.includes("--take-request");
const port = Number(args[0]);
const body = args[1] ?? "ok";
const PREFIX = "/.well-known/acme-challenge/";
const answer = () => new Response(body, { headers: { "Content-Type": "text/plain" } });
Deno.serve(
  { hostname: "127.0.0.1", port, onListen: () => console.log(`listening ${port}`) },
  readUrlHost
    ? (request) => {
      const url = request.url;
      const authority = url.indexOf("//") + 2;
      const pathStart = url.indexOf("/", authority);
      const host = url.slice(authority, pathStart);
      if (!host || !url.startsWith(PREFIX, pathStart)) return new Response("not found", { status: 404 });
      return answer();
    }
    : takeRequest
    ? (_request) => answer()
    : () => answer(),
);
