/**
 * The ceiling for the challenge benchmark: a bare Deno.serve that answers every request with a constant string
 * (as long as the benchmark's key authorization). Usage: deno run --allow-net bench/servers/bare.ts PORT [TEXT]
 */
const port = Number(Deno.args[0]);
const body = Deno.args[1] ?? "ok";
Deno.serve(
  { hostname: "127.0.0.1", port, onListen: () => console.log(`listening ${port}`) },
  () => new Response(body, { headers: { "Content-Type": "text/plain" } }),
);
