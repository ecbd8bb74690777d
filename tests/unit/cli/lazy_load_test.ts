/**
 * A command loads what it needs only: the static import graph (what loads before the first line runs) of
 * `main.ts`, `check-config` and `serve` holds no module a config may not need; `serve` binds its listeners before
 * it loads the server (cli/serve_run.ts). The PostgreSQL driver, X.509, DNS
 * (dns-packet, node:dgram, the DNS solvers), the ACME front end, the operator page and the server load by dynamic
 * `import()` when used.
 */
import { assert, assertEquals } from "../../support/assert.ts";

const ROOT = new URL("../../../", import.meta.url);

interface InfoModule {
  specifier: string;
  dependencies?: { specifier: string; code?: { specifier: string }; isDynamic?: boolean }[];
}

/** Specifiers reachable from `entry` through static (non-type, non-dynamic) imports. */
async function staticGraph(entry: string): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout));
  const modules = new Map<string, InfoModule>(info.modules.map((m: InfoModule) => [m.specifier, m]));
  const redirects: Record<string, string> = info.redirects ?? {};
  const root = new URL(entry, ROOT).href;
  const seen = new Set<string>([root]);
  const queue = [root];
  while (queue.length > 0) {
    const module = modules.get(queue.pop()!);
    for (const dep of module?.dependencies ?? []) {
      if (dep.isDynamic || !dep.code) continue;
      const target = redirects[dep.code.specifier] ?? dep.code.specifier;
      if (seen.has(target)) continue;
      seen.add(target);
      queue.push(target);
    }
  }
  return [...seen].map((s) => s.startsWith(ROOT.href) ? s.slice(ROOT.href.length) : s);
}

const heavy = (graph: string[]) =>
  graph.filter((s) =>
    /^npm:|^node:dgram|^node:buffer/.test(s) || s.includes("@peculiar") || s.includes("dns-packet") ||
    s.includes("storage/postgres/")
  );

Deno.test("lazy loading: main.ts alone loads no subcommand", async () => {
  const graph = await staticGraph("main.ts");
  assertEquals(graph.filter((s) => s.startsWith("cli/") && s !== "cli/usage.ts"), []);
  assertEquals(graph.filter((s) => s.startsWith("src/") && s !== "src/version.ts"), []);
});

Deno.test("lazy loading: check-config loads neither the server nor npm packages nor Node compatibility", async () => {
  const graph = await staticGraph("cli/check_config.ts");
  assertEquals(graph.filter((s) => s.startsWith("src/server/") || s.startsWith("src/http/")), []);
  assertEquals(graph.filter((s) => /^(npm|node):/.test(s)), []);
});

Deno.test("lazy loading: serve binds its listeners before it loads the server", async () => {
  const graph = await staticGraph("cli/serve.ts");
  assert(graph.includes("src/server/early_listeners.ts"), "serve binds the listeners");
  assertEquals(
    graph.filter((s) => s.startsWith("src/") && /^src\/(server\/app|http|issuance|acme|account)\b/.test(s)),
    [],
  );
  assertEquals(heavy(graph), []);
});

Deno.test("lazy loading: serve loads no PostgreSQL driver, X.509 or DNS packet code before they are used", async () => {
  const graph = await staticGraph("cli/serve_run.ts");
  assert(graph.includes("src/server/app.ts"), "serve loads the server");
  assertEquals(heavy(graph), []);
  // Node compatibility loads only with the code that needs it (UDP DNS, fchmod), never at start (src/lib/path.ts).
  assertEquals(graph.filter((s) => s.startsWith("node:")), []);
});

Deno.test("lazy loading: serve loads what only some configs or requests need when first used", async () => {
  const graph = await staticGraph("cli/serve_run.ts");
  // The ACME front end (first /acme/ request; src/acme_server/lazy.ts stands for it), the DNS solvers and
  // resolver (src/server/dns_solvers.ts), the operator page's rendering (first GET /), the config summary
  // (check-config only).
  assertEquals(graph.filter((s) => s.startsWith("src/acme_server/") && s !== "src/acme_server/lazy.ts"), []);
  assertEquals(graph.filter((s) => s.startsWith("src/challenges/dns01/")), []);
  assertEquals(graph.filter((s) => /^src\/challenges\/dns_persist01\/(lookup|solver)\.ts$/.test(s)), []);
  assertEquals(graph.filter((s) => s.startsWith("src/http/ui/") && !/(fetch_log|recent_failures)\.ts$/.test(s)), []);
  assertEquals(graph.filter((s) => s === "src/config/summary.ts"), []);
});
