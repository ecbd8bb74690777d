/**
 * The results table of bench/README.md, rendered from the JSON that bench/run.ts writes, between the markers
 * `<!-- results:start -->` and `<!-- results:end -->`.
 */
import type { Distribution } from "./summary.ts";

interface Rates {
  rps: number;
  cpu_us_per_req: number;
  p50_ms: number;
  p99_ms: number;
  non2xx: number;
  socket_errors: number;
  /** Each wrk run, in round order (absent in old results). */
  runs?: { rps: number }[];
}

/** The fields of bench/results/*.json the table shows. */
export interface BenchResult {
  date: string;
  duration_s: number;
  git: { commit: string; product_dirty: boolean };
  machine: { cores: number; cpu_model: string; load_avg_before: number[]; load_avg_after: number[]; deno: string };
  challenge: {
    known: Rates;
    unknown: Rates;
    ceiling_deno: Rates;
    ceiling_nginx: Rates;
    ratio_to_deno: number;
    ratio_to_nginx: number;
    unknown_ratio_to_deno: number;
    unknown_ratio_to_nginx: number;
    p99_ratio_to_deno: number;
    p99_ratio_to_nginx: number;
    cpu_ratio_to_deno: number;
    /** Absent in results written before the URL+Host ceiling existed. */
    ceiling_url_host?: Rates;
    ratio_to_url_host?: number;
    url_host_ratio_to_deno?: number;
    cpu_ratio_to_url_host?: number;
    /** Absent in results written before the rounds alternated their order. */
    ratio_to_deno_per_round?: number[];
    ratio_to_deno_paired?: number;
    ratio_to_url_host_paired?: number;
  };
  sign_cache_hit: Rates & {
    ratio_to_deno: number;
    ratio_to_nginx: number;
    p99_ratio_to_deno: number;
    cpu_ratio_to_deno: number;
    ceiling_post: Rates;
    ratio_to_post: number;
    post_ratio_to_deno: number;
    cpu_ratio_to_post: number;
    /** Absent in results written before the documented-hit ceiling existed. */
    ceiling_hit?: Rates;
    ratio_to_hit?: number;
    hit_ratio_to_post?: number;
    cpu_ratio_to_hit?: number;
    ratio_to_post_per_round?: number[];
    ratio_to_post_paired?: number;
    /** Per round: whether acmems' idle trim ran between its previous wrk run and this cache-hit run. */
    trimmed_before_round?: boolean[];
  };
  issuance: {
    n1: { acmems: Distribution; floor: Distribution };
    n10: { acmems: Distribution; floor: Distribution };
    n30: { acmems: Distribution; floor: Distribution };
    n1_s: number;
    n10_s: number;
    n30_s: number;
    floor_n1_s: number;
    floor_n10_s: number;
    floor_n30_s: number;
    ratio_n1_to_floor: number;
    ratio_n10_to_floor: number;
    ratio_n30_to_floor: number;
    n30_over_n1: number;
    floor_n30_over_n1: number;
    overhead_ms_per_cert: number;
    n1_fast_ms: number;
    floor_n1_fast_ms: number;
    fast_runs: { acmems: number; floor: number; of: number };
    overhead_n10_ms_per_cert: number;
    overhead_n30_ms_per_cert: number;
    av_n1_s: number;
    av_n10_s: number;
    av_n30_s: number;
    av_floor_n1_s: number;
    av_floor_n10_s: number;
    av_floor_n30_s: number;
    failures: { run: string; side: string; error: string }[];
  };
  footprint: {
    rss_idle_mb: number;
    rss_idle_bench_process_mb: number;
    heap_idle_mb: number;
    heap_used_idle_mb: number;
    rss_after_issuance_mb: number;
    heap_after_issuance_mb: number;
    rss_after_load_mb: number;
    heap_after_load_mb: number;
    rss_peak_mb: number;
    rss_after_load_stopped_mb: number;
    heap_after_load_stopped_mb: number;
    rss_after_load_stopped_ratio_to_idle: number;
    check_config_ms: number;
    serve_ready_ms: number;
    bundle_check_config_ms: number;
    bundle_serve_ready_ms: number;
    bundle_rss_idle_mb: number;
    ceiling_noop_exit_ms: number;
    ceiling_bare_ready_ms: number;
    ceiling_bare_rss_mb: number;
    /** Absent in results written before the first-answer time and the minimal-serve floor existed. */
    serve_answer_ms?: number;
    floor_serve_ready_ms?: number;
    floor_serve_answer_ms?: number;
    floor_serve_rss_mb?: number;
    /** The first run after the other command (other V8 flags: the code cache is rejected); absent before. */
    floor_serve_with_code_rss_mb?: number;
    check_config_after_serve_ms?: number;
    serve_ready_after_check_config_ms?: number;
    check_config_ratio_to_noop: number;
    serve_ready_ratio_to_bare: number;
    rss_idle_ratio_to_bare: number;
    rss_after_issuance_ratio_to_bare: number;
  };
  settings: {
    wrk_seconds: number;
    wrk_reps: number;
    wrk_connections: number;
    wrk_threads: number;
    after_load_idle_ms: number;
  };
  targets: { name: string; target: string; value: string; met: boolean; ceiling?: string; ceilingMisses?: boolean }[];
}

const int = (n: number) => Math.round(n).toLocaleString("en-US");
const x = (n: number) => `${n.toFixed(2)}×`;
const round1 = (n: number) => Math.round(n * 10) / 10;
const ms = (n: number) => `${n} ms`;
const s = (n: number) => `${n.toFixed(3)} s`;
/** A distribution in ms as "min / median / p90 / max ms" (without p90 for few runs). */
const dist = (d: Distribution, p90 = true) => `${d.min} / ${d.median}${p90 ? ` / ${d.p90}` : ""} / ${d.max} ms`;
const met = (r: BenchResult, name: string) => {
  const t = r.targets.find((t) => t.name === name);
  return t ? `${t.target} ${t.met ? "✅" : "❌"}` : "";
};

export function renderReadmeTable(r: BenchResult): string {
  const c = r.challenge;
  const h = r.sign_cache_hit;
  const i = r.issuance;
  const f = r.footprint;
  const m = r.machine;
  const rows: string[][] = [
    ["measure", "acmems", "ceiling (same run)", "ratio", "target"],
    [
      "challenge, known token: req/s",
      int(c.known.rps),
      `Deno.serve ${int(c.ceiling_deno.rps)} · nginx ${int(c.ceiling_nginx.rps)}`,
      `${x(c.ratio_to_deno)} · ${x(c.ratio_to_nginx)}`,
      `${met(r, "challenge req/s vs bare Deno.serve")} · ${met(r, "challenge req/s vs nginx")}`,
    ],
    ...(c.ceiling_url_host
      ? [[
        "challenge, known token: req/s and CPU per answer vs a Deno.serve that reads the host and path from the URL",
        `${int(c.known.rps)}, ${c.known.cpu_us_per_req} µs`,
        `Deno.serve + URL + Host ${int(c.ceiling_url_host.rps)}, ${c.ceiling_url_host.cpu_us_per_req} µs ` +
        `(itself ${x(c.url_host_ratio_to_deno ?? NaN)} of Deno.serve)`,
        `${x(c.ratio_to_url_host ?? NaN)} · CPU ${x(c.cpu_ratio_to_url_host ?? NaN)}`,
        "",
      ]]
      : []),
    ...(c.ratio_to_deno_per_round
      ? [[
        "challenge, known token: req/s over the ceiling's run of the same round (rounds alternate their order)",
        c.ratio_to_deno_per_round.map(x).join(" · "),
        `median vs Deno.serve ${x(c.ratio_to_deno_paired ?? NaN)} · vs Deno.serve + URL + Host ` +
        x(c.ratio_to_url_host_paired ?? NaN),
        "",
        "",
      ]]
      : []),
    [
      "challenge, known token: p50 / p99",
      `${c.known.p50_ms} / ${c.known.p99_ms} ms`,
      `Deno.serve ${c.ceiling_deno.p50_ms} / ${c.ceiling_deno.p99_ms} · nginx ${c.ceiling_nginx.p50_ms} / ${c.ceiling_nginx.p99_ms} ms`,
      `p99 ${x(c.p99_ratio_to_deno)} · ${x(c.p99_ratio_to_nginx)}`,
      met(r, "challenge p99"),
    ],
    [
      "challenge, unknown token (404): req/s, p99",
      `${int(c.unknown.rps)}, ${c.unknown.p99_ms} ms`,
      `Deno.serve ${int(c.ceiling_deno.rps)} · nginx ${int(c.ceiling_nginx.rps)}`,
      `${x(c.unknown_ratio_to_deno)} · ${x(c.unknown_ratio_to_nginx)}`,
      "",
    ],
    [
      "challenge, known token: server CPU per answer",
      `${c.known.cpu_us_per_req} µs`,
      `Deno.serve ${c.ceiling_deno.cpu_us_per_req} µs · nginx ${c.ceiling_nginx.cpu_us_per_req} µs`,
      `${x(c.cpu_ratio_to_deno)} of Deno.serve`,
      "",
    ],
    [
      "`/sign` cache hit with HMAC: req/s",
      int(h.rps),
      `Deno.serve ${int(c.ceiling_deno.rps)} · Deno.serve POST+HMAC ${int(h.ceiling_post.rps)} ` +
      `(itself ${x(h.post_ratio_to_deno)} of Deno.serve)`,
      `${x(h.ratio_to_deno)} · ${x(h.ratio_to_post)}`,
      met(r, "/sign cache hit req/s vs bare POST+HMAC"),
    ],
    ...(h.ceiling_hit
      ? [[
        "`/sign` cache hit vs a Deno.serve doing only what the README promises per hit",
        `${int(h.rps)}, ${h.cpu_us_per_req} µs`,
        `documented hit ${int(h.ceiling_hit.rps)}, ${h.ceiling_hit.cpu_us_per_req} µs ` +
        `(itself ${x(h.hit_ratio_to_post ?? NaN)} of POST+HMAC)`,
        `${x(h.ratio_to_hit ?? NaN)} · CPU ${x(h.cpu_ratio_to_hit ?? NaN)}`,
        "",
      ]]
      : []),
    ...(h.ratio_to_post_per_round
      ? [[
        "`/sign` cache hit: req/s over POST+HMAC's run of the same round",
        h.ratio_to_post_per_round.map(x).join(" · "),
        `median ${x(h.ratio_to_post_paired ?? NaN)}`,
        "",
        "",
      ]]
      : []),
    ...(h.trimmed_before_round
      ? [[
        "`/sign` cache hit: req/s by round, and whether acmems' idle trim ran since its previous run (rounds alternate)",
        (h.runs ?? []).map((r, i) => `${int(r.rps)}${h.trimmed_before_round![i] ? " after a trim" : ""}`).join(" · "),
        `POST+HMAC ${(h.ceiling_post.runs ?? []).map((r) => int(r.rps)).join(" · ")}`,
        "",
        "",
      ]]
      : []),
    [
      "`/sign` cache hit: p50 / p99",
      `${h.p50_ms} / ${h.p99_ms} ms`,
      `Deno.serve p99 ${c.ceiling_deno.p99_ms} ms · POST+HMAC ${h.ceiling_post.p50_ms} / ${h.ceiling_post.p99_ms} ms`,
      `p99 ${x(h.p99_ratio_to_deno)}`,
      met(r, "/sign cache hit p99"),
    ],
    [
      "`/sign` cache hit: server CPU per answer",
      `${h.cpu_us_per_req} µs`,
      `Deno.serve ${c.ceiling_deno.cpu_us_per_req} µs · POST+HMAC ${h.ceiling_post.cpu_us_per_req} µs`,
      `${x(h.cpu_ratio_to_deno)} · ${x(h.cpu_ratio_to_post)}`,
      "",
    ],
    [
      "issuance, 1 CSR (pebble validates through acmems): min / median / p90 / max",
      dist(i.n1.acmems),
      `floor ${dist(i.n1.floor)}`,
      `median ${x(i.ratio_n1_to_floor)}`,
      met(r, "issuance, 1 CSR vs floor (median)"),
    ],
    [
      "issuance, 10 CSRs at once: min / median / max",
      dist(i.n10.acmems, false),
      `floor ${dist(i.n10.floor, false)}`,
      `median ${x(i.ratio_n10_to_floor)}`,
      met(r, "issuance, 10 at once"),
    ],
    [
      "issuance, 30 CSRs at once: min / median / max",
      dist(i.n30.acmems, false),
      `floor ${dist(i.n30.floor, false)}`,
      `median ${x(i.ratio_n30_to_floor)}`,
      met(r, "issuance, 30 at once"),
    ],
    [
      "issuance without validation (PEBBLE_VA_ALWAYS_VALID): 1 / 10 / 30 CSRs",
      `${s(i.av_n1_s)} / ${s(i.av_n10_s)} / ${s(i.av_n30_s)}`,
      `floor ${s(i.av_floor_n1_s)} / ${s(i.av_floor_n10_s)} / ${s(i.av_floor_n30_s)}`,
      "",
      "",
    ],
    [
      "issuance overhead per certificate: 1 / 10 / 30 at once without validation",
      `${ms(i.overhead_ms_per_cert)} / ${ms(i.overhead_n10_ms_per_cert)} / ${ms(i.overhead_n30_ms_per_cert)}`,
      `acmems ${i.n1_fast_ms} ms vs floor ${i.floor_n1_fast_ms} ms for 1`,
      "",
      "",
    ],
    [
      "RSS / V8 heap idle (`main.ts serve`; heap of the bench's acmems)",
      `${f.rss_idle_mb} MB / ${f.heap_idle_mb} MB`,
      `Deno.serve ${f.ceiling_bare_rss_mb} MB`,
      x(f.rss_idle_ratio_to_bare),
      met(r, "RSS idle"),
    ],
    ...(f.floor_serve_rss_mb !== undefined
      ? [[
        "RSS idle vs a minimal program doing what serve must (bench/probes/minimal_serve.ts)",
        `${f.rss_idle_mb} MB`,
        `minimal serve ${f.floor_serve_rss_mb} MB`,
        x(f.rss_idle_mb / f.floor_serve_rss_mb),
        "",
      ]]
      : []),
    ...(f.floor_serve_with_code_rss_mb !== undefined
      ? [[
        "RSS idle vs the minimal serve holding serve's code (imports cli/serve_run.ts, runs none of it)",
        `${f.rss_idle_mb} MB`,
        `minimal serve + serve's code ${f.floor_serve_with_code_rss_mb} MB (holding the code: +${
          round1(f.floor_serve_with_code_rss_mb - (f.floor_serve_rss_mb ?? NaN))
        } MB)`,
        x(f.rss_idle_mb / f.floor_serve_with_code_rss_mb),
        "",
      ]]
      : []),
    [
      "RSS / heap after 30 concurrent issuances",
      `${f.rss_after_issuance_mb} MB / ${f.heap_after_issuance_mb} MB`,
      `Deno.serve ${f.ceiling_bare_rss_mb} MB`,
      x(f.rss_after_issuance_ratio_to_bare),
      met(r, "RSS after 30 concurrent issuances"),
    ],
    [
      "RSS / heap right after all wrk runs (peak RSS)",
      `${f.rss_after_load_mb} MB / ${f.heap_after_load_mb} MB (${f.rss_peak_mb} MB)`,
      "",
      "",
      "",
    ],
    [
      `RSS / heap ${r.settings.after_load_idle_ms / 1000} s after the load stopped`,
      `${f.rss_after_load_stopped_mb} MB / ${f.heap_after_load_stopped_mb} MB`,
      `same process idle ${f.rss_idle_bench_process_mb} MB`,
      x(f.rss_after_load_stopped_ratio_to_idle),
      met(r, "RSS once the load stopped vs idle"),
    ],
    [
      "`check-config`: start to exit (main.ts · bundle)",
      `${ms(f.check_config_ms)} · ${ms(f.bundle_check_config_ms)}`,
      `empty \`deno run\` ${ms(f.ceiling_noop_exit_ms)}`,
      x(f.check_config_ratio_to_noop),
      met(r, "check-config start to exit"),
    ],
    [
      "`serve`: start to mgmt port accepting (main.ts · bundle)",
      `${ms(f.serve_ready_ms)} · ${ms(f.bundle_serve_ready_ms)}`,
      `Deno.serve ${ms(f.ceiling_bare_ready_ms)}`,
      x(f.serve_ready_ratio_to_bare),
      met(r, "serve start to listening"),
    ],
    ...(f.serve_answer_ms !== undefined
      ? [[
        "`serve`: start to listening · to the first answer of GET /health (main.ts)",
        `${ms(f.serve_ready_ms)} · ${ms(f.serve_answer_ms)}`,
        `minimal serve ${ms(f.floor_serve_ready_ms ?? NaN)} · ${ms(f.floor_serve_answer_ms ?? NaN)}`,
        x(f.serve_answer_ms / (f.floor_serve_answer_ms ?? NaN)),
        "",
      ]]
      : []),
    ...(f.check_config_after_serve_ms !== undefined && f.serve_ready_after_check_config_ms !== undefined
      ? [[
        "first run after the other command (V8 flags differ: code cache rejected): check-config · serve (main.ts)",
        `${ms(f.check_config_after_serve_ms)} · ${ms(f.serve_ready_after_check_config_ms)}`,
        `again: ${ms(f.check_config_ms)} · ${ms(f.serve_ready_ms)}`,
        `${x(f.check_config_after_serve_ms / f.check_config_ms)} · ${
          x(f.serve_ready_after_check_config_ms / f.serve_ready_ms)
        }`,
        "",
      ]]
      : []),
  ];
  const table = rows.map((row) => `| ${row.join(" | ")} |`);
  table.splice(1, 0, `| ${rows[0].map(() => "---").join(" | ")} |`);
  const errors = [c.known, c.unknown, h].map((x) => x.socket_errors).reduce((a, b) => a + b, 0);
  return [
    `Run of ${r.date.slice(0, 16).replace("T", " ")} UTC (${r.duration_s} s), commit ${r.git.commit.slice(0, 12)}` +
    `${r.git.product_dirty ? " with uncommitted product changes" : ""}; ${m.cores} cores (${m.cpu_model}), ` +
    `load average ${m.load_avg_before.join(" ")} before, ${m.load_avg_after.join(" ")} after; Deno ${m.deno}. ` +
    `wrk -t${r.settings.wrk_threads} -c${r.settings.wrk_connections}, ${r.settings.wrk_reps} × ` +
    `${r.settings.wrk_seconds} s per target, medians; socket errors ${errors}, non-2xx on the cache-hit runs ` +
    `${h.non2xx}; failed issuance runs ${i.failures.length}.`,
    "",
    ...table,
  ].join("\n");
}

/** The targets of the run, met or missed, as a Markdown table. */
export function renderTargets(r: BenchResult): string {
  const verdict = (t: BenchResult["targets"][number]) =>
    t.met ? "met ✅" : t.ceilingMisses ? "missed ❌ (out of reach: the ceiling misses it too)" : "**missed** ❌";
  const rows = r.targets.map((t) => `| ${t.name} | ${t.target} | ${t.value} | ${t.ceiling ?? ""} | ${verdict(t)} |`);
  return [
    `Targets of issue 19 against the run of ${r.date.slice(0, 16).replace("T", " ")} UTC (commit ` +
    `\`${r.git.commit.slice(0, 7)}\`). "Same-run ceiling" is the closest bare server or floor of the same run on the ` +
    "same measure: where it misses the target too, the target is out of reach on this machine in this run.",
    "",
    "| target | wanted | this run | same-run ceiling | |",
    "| --- | --- | --- | --- | --- |",
    ...rows,
  ].join("\n");
}

/** Replaces the text between `<!-- NAME:start -->` and `<!-- NAME:end -->` in `text`. */
function replaceBlock(text: string, name: string, body: string, path: string): string {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`${path} has no ${start} … ${end} markers`);
  return `${text.slice(0, a + start.length)}\n${body}\n${text.slice(b)}`;
}

/** Replaces the results table and the targets table in `path` (between their markers) with those of `r`. */
export async function updateReadme(path: string, r: BenchResult): Promise<void> {
  let text = await Deno.readTextFile(path);
  text = replaceBlock(text, "results", renderReadmeTable(r), path);
  if (text.includes("<!-- targets:start -->")) text = replaceBlock(text, "targets", renderTargets(r), path);
  await Deno.writeTextFile(path, text);
  // deno fmt pads markdown tables; format now so `deno fmt --check` stays clean after a run.
  await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", path], stdout: "null", stderr: "null" }).output();
}
