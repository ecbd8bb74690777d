/**
 * Compares two bench results (bench/results/*.json), e.g. the commit before a merge and the merge: the same-run
 * ratios side by side (absolute rates drift with the machine; ratios to the ceilings of their own run do not).
 *
 * Usage: deno run --allow-read bench/compare.ts OLD.json NEW.json
 * Prints one Markdown table; a row is marked ⚠ when NEW is more than 10 % worse than OLD.
 */

type Json = Record<string, unknown>;

/** [label, path, higher is better] */
const ROWS: [string, string, boolean][] = [
  ["challenge req/s ÷ bare Deno.serve", "challenge.ratio_to_deno", true],
  ["challenge req/s ÷ nginx", "challenge.ratio_to_nginx", true],
  ["challenge p99 (ms)", "challenge.known.p99_ms", false],
  ["challenge server CPU per answer ÷ Deno.serve", "challenge.cpu_ratio_to_deno", false],
  ["/sign cache hit req/s ÷ bare POST+HMAC", "sign_cache_hit.ratio_to_post", true],
  ["/sign cache hit p99 (ms)", "sign_cache_hit.p99_ms", false],
  ["/sign cache hit server CPU ÷ POST+HMAC", "sign_cache_hit.cpu_ratio_to_post", false],
  ["issuance 1 CSR median ÷ floor", "issuance.ratio_n1_to_floor", false],
  ["issuance 10 at once (s)", "issuance.n10_s", false],
  ["issuance 30 at once (s)", "issuance.n30_s", false],
  ["RSS idle (MB)", "footprint.rss_idle_mb", false],
  ["heap idle (MB)", "footprint.heap_idle_mb", false],
  ["RSS after 30 issuances (MB)", "footprint.rss_after_issuance_mb", false],
  ["RSS after the load stopped ÷ idle", "footprint.rss_after_load_stopped_ratio_to_idle", false],
  ["check-config start to exit (ms)", "footprint.check_config_ms", false],
  ["serve start to listening (ms)", "footprint.serve_ready_ms", false],
];

/** The number at a dotted path, or undefined. */
export function at(result: Json, path: string): number | undefined {
  let value: unknown = result;
  for (const key of path.split(".")) value = (value as Json | undefined)?.[key];
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/** The comparison table of two results. */
export function compare(older: Json, newer: Json): string {
  const head = (r: Json) =>
    `${String(r.date ?? "?").slice(0, 16)} ${String((r.git as Json)?.commit ?? "?").slice(0, 8)}`;
  const lines = [
    `| measure | ${head(older)} | ${head(newer)} | change |`,
    "| --- | --- | --- | --- |",
  ];
  for (const [label, path, higherBetter] of ROWS) {
    const a = at(older, path);
    const b = at(newer, path);
    let change = "";
    if (a !== undefined && b !== undefined && a !== 0) {
      const pct = ((b - a) / Math.abs(a)) * 100;
      const worse = higherBetter ? pct < -10 : pct > 10;
      change = `${pct >= 0 ? "+" : ""}${pct.toFixed(1)} %${worse ? " ⚠" : ""}`;
    }
    lines.push(`| ${label} | ${a ?? "–"} | ${b ?? "–"} | ${change} |`);
  }
  return lines.join("\n");
}

if (import.meta.main) {
  if (Deno.args.length !== 2) {
    console.error("usage: deno run --allow-read bench/compare.ts OLD.json NEW.json");
    Deno.exit(2);
  }
  const [older, newer] = await Promise.all(Deno.args.map(async (f) => JSON.parse(await Deno.readTextFile(f))));
  console.log(compare(older, newer));
}
