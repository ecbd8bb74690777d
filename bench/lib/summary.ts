/**
 * Pure helpers for bench/run.ts: the distribution of repeated runs, and the issue-19 targets checked against a
 * result. Figures are reported, never asserted (see bench/README.md).
 */

/** min / median / p90 / max of `values` (ms), rounded to 0.1; NaN for an empty list. */
export interface Distribution {
  min: number;
  median: number;
  p90: number;
  max: number;
  runs: number;
}

export function distribution(values: number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) =>
    sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  const r = (n: number) => Math.round(n * 10) / 10;
  const mid = sorted.length === 0
    ? NaN
    : sorted.length % 2 === 1
    ? sorted[(sorted.length - 1) / 2]
    : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  return {
    min: r(sorted[0] ?? NaN),
    median: r(mid),
    p90: r(at(0.9)),
    max: r(sorted.at(-1) ?? NaN),
    runs: values.length,
  };
}

export interface Target {
  name: string;
  target: string;
  value: string;
  met: boolean;
  /**
   * What the closest same-run ceiling or floor reaches on the same measure (a bare server doing only the
   * unavoidable part), and whether that already misses the target: then the target is out of reach in this run.
   */
  ceiling?: string;
  ceilingMisses?: boolean;
}

/** The fields of a result the targets read (the ceilings are absent in results older than this session's). */
export interface TargetInputs {
  challenge: {
    ratio_to_deno: number;
    ratio_to_nginx: number;
    known: { p99_ms: number };
    ceiling_deno?: { p99_ms: number };
    url_host_ratio_to_deno?: number;
  };
  sign_cache_hit: {
    ratio_to_post: number;
    p99_ms: number;
    ceiling_post?: { p99_ms: number };
    hit_ratio_to_post?: number;
  };
  issuance: { ratio_n1_to_floor: number; n10_s: number; n30_s: number; floor_n10_s?: number; floor_n30_s?: number };
  footprint: {
    ceiling_noop_exit_ms?: number;
    ceiling_bare_ready_ms?: number;
    ceiling_bare_rss_mb?: number;
    floor_serve_ready_ms?: number;
    floor_serve_rss_mb?: number;
    floor_serve_with_code_rss_mb?: number;
    rss_idle_mb: number;
    rss_after_issuance_mb: number;
    rss_after_load_stopped_mb: number;
    rss_idle_bench_process_mb: number;
    rss_after_load_stopped_ratio_to_idle: number;
    check_config_ms: number;
    serve_ready_ms: number;
  };
}

/** Issue 19's targets, each with the same-run ceiling or floor that bounds it where there is one. */
export function targetsOf(r: TargetInputs): Target[] {
  const f = r.footprint;
  const c = r.challenge;
  const h = r.sign_cache_hit;
  const i = r.issuance;
  const t = (
    name: string,
    target: string,
    value: string,
    met: boolean,
    ceiling?: [text: string, misses: boolean],
  ): Target => ({ name, target, value, met, ...(ceiling ? { ceiling: ceiling[0], ceilingMisses: ceiling[1] } : {}) });
  const known = (n: number | undefined): n is number => typeof n === "number" && Number.isFinite(n);
  return [
    t(
      "challenge req/s vs bare Deno.serve",
      "≥ 0.9×",
      `${c.ratio_to_deno}×`,
      c.ratio_to_deno >= 0.9,
      known(c.url_host_ratio_to_deno)
        ? [`Deno.serve reading host + path: ${c.url_host_ratio_to_deno}×`, c.url_host_ratio_to_deno < 0.9]
        : undefined,
    ),
    t("challenge req/s vs nginx", "≥ 1×", `${c.ratio_to_nginx}×`, c.ratio_to_nginx >= 1),
    t(
      "challenge p99",
      "< 5 ms",
      `${c.known.p99_ms} ms`,
      c.known.p99_ms < 5,
      known(c.ceiling_deno?.p99_ms)
        ? [`Deno.serve: ${c.ceiling_deno.p99_ms} ms`, c.ceiling_deno.p99_ms >= 5]
        : undefined,
    ),
    t(
      "/sign cache hit req/s vs bare POST+HMAC",
      "≥ 0.8×",
      `${h.ratio_to_post}×`,
      h.ratio_to_post >= 0.8,
      known(h.hit_ratio_to_post) ? [`documented hit: ${h.hit_ratio_to_post}×`, h.hit_ratio_to_post < 0.8] : undefined,
    ),
    t(
      "/sign cache hit p99",
      "< 5 ms",
      `${h.p99_ms} ms`,
      h.p99_ms < 5,
      known(h.ceiling_post?.p99_ms)
        ? [`POST+HMAC: ${h.ceiling_post.p99_ms} ms`, h.ceiling_post.p99_ms >= 5]
        : undefined,
    ),
    t("issuance, 1 CSR vs floor (median)", "≤ 1.1×", `${i.ratio_n1_to_floor}×`, i.ratio_n1_to_floor <= 1.1),
    t(
      "issuance, 10 at once",
      "≤ 0.5 s",
      `${i.n10_s} s`,
      i.n10_s <= 0.5,
      known(i.floor_n10_s) ? [`floor: ${i.floor_n10_s} s`, i.floor_n10_s > 0.5] : undefined,
    ),
    t(
      "issuance, 30 at once",
      "≤ 1 s",
      `${i.n30_s} s`,
      i.n30_s <= 1,
      known(i.floor_n30_s) ? [`floor: ${i.floor_n30_s} s`, i.floor_n30_s > 1] : undefined,
    ),
    t(
      "RSS idle",
      "≤ 50 MB",
      `${f.rss_idle_mb} MB`,
      f.rss_idle_mb <= 50,
      known(f.floor_serve_with_code_rss_mb)
        ? [
          `minimal serve holding serve's code: ${f.floor_serve_with_code_rss_mb} MB (without the code: ${f.floor_serve_rss_mb} MB)`,
          f.floor_serve_with_code_rss_mb > 50,
        ]
        : known(f.floor_serve_rss_mb)
        ? [`minimal serve: ${f.floor_serve_rss_mb} MB`, f.floor_serve_rss_mb > 50]
        : known(f.ceiling_bare_rss_mb)
        ? [`Deno.serve: ${f.ceiling_bare_rss_mb} MB`, f.ceiling_bare_rss_mb > 50]
        : undefined,
    ),
    t("RSS after 30 concurrent issuances", "≤ 90 MB", `${f.rss_after_issuance_mb} MB`, f.rss_after_issuance_mb <= 90),
    t(
      "RSS once the load stopped vs idle",
      "≤ 1.2×",
      `${f.rss_after_load_stopped_ratio_to_idle}× (${f.rss_after_load_stopped_mb} vs ${f.rss_idle_bench_process_mb} MB)`,
      f.rss_after_load_stopped_ratio_to_idle <= 1.2,
    ),
    t(
      "check-config start to exit",
      "≤ 50 ms",
      `${f.check_config_ms} ms`,
      f.check_config_ms <= 50,
      known(f.ceiling_noop_exit_ms)
        ? [`empty deno run: ${f.ceiling_noop_exit_ms} ms`, f.ceiling_noop_exit_ms > 50]
        : undefined,
    ),
    t(
      "serve start to listening",
      "≤ 60 ms",
      `${f.serve_ready_ms} ms`,
      f.serve_ready_ms <= 60,
      known(f.floor_serve_ready_ms)
        ? [`minimal serve: ${f.floor_serve_ready_ms} ms`, f.floor_serve_ready_ms > 60]
        : known(f.ceiling_bare_ready_ms)
        ? [`Deno.serve: ${f.ceiling_bare_ready_ms} ms`, f.ceiling_bare_ready_ms > 60]
        : undefined,
    ),
  ];
}
