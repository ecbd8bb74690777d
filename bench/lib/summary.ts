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
}

/** The fields of a result the targets read. */
export interface TargetInputs {
  challenge: { ratio_to_deno: number; ratio_to_nginx: number; known: { p99_ms: number } };
  sign_cache_hit: { ratio_to_post: number; p99_ms: number };
  issuance: { ratio_n1_to_floor: number; n10_s: number; n30_s: number };
  footprint: {
    rss_idle_mb: number;
    rss_after_issuance_mb: number;
    rss_after_load_stopped_mb: number;
    rss_idle_bench_process_mb: number;
    rss_after_load_stopped_ratio_to_idle: number;
    check_config_ms: number;
    serve_ready_ms: number;
  };
}

/** Issue 19's targets. */
export function targetsOf(r: TargetInputs): Target[] {
  const f = r.footprint;
  const t = (name: string, target: string, value: string, met: boolean): Target => ({ name, target, value, met });
  return [
    t(
      "challenge req/s vs bare Deno.serve",
      "≥ 0.9×",
      `${r.challenge.ratio_to_deno}×`,
      r.challenge.ratio_to_deno >= 0.9,
    ),
    t("challenge req/s vs nginx", "≥ 1×", `${r.challenge.ratio_to_nginx}×`, r.challenge.ratio_to_nginx >= 1),
    t("challenge p99", "< 5 ms", `${r.challenge.known.p99_ms} ms`, r.challenge.known.p99_ms < 5),
    t(
      "/sign cache hit req/s vs bare POST+HMAC",
      "≥ 0.8×",
      `${r.sign_cache_hit.ratio_to_post}×`,
      r.sign_cache_hit.ratio_to_post >= 0.8,
    ),
    t("/sign cache hit p99", "< 5 ms", `${r.sign_cache_hit.p99_ms} ms`, r.sign_cache_hit.p99_ms < 5),
    t(
      "issuance, 1 CSR vs floor (median)",
      "≤ 1.1×",
      `${r.issuance.ratio_n1_to_floor}×`,
      r.issuance.ratio_n1_to_floor <= 1.1,
    ),
    t("issuance, 10 at once", "≤ 0.5 s", `${r.issuance.n10_s} s`, r.issuance.n10_s <= 0.5),
    t("issuance, 30 at once", "≤ 1 s", `${r.issuance.n30_s} s`, r.issuance.n30_s <= 1),
    t("RSS idle", "≤ 50 MB", `${f.rss_idle_mb} MB`, f.rss_idle_mb <= 50),
    t("RSS after 30 concurrent issuances", "≤ 90 MB", `${f.rss_after_issuance_mb} MB`, f.rss_after_issuance_mb <= 90),
    t(
      "RSS once the load stopped vs idle",
      "≤ 1.2×",
      `${f.rss_after_load_stopped_ratio_to_idle}× (${f.rss_after_load_stopped_mb} vs ${f.rss_idle_bench_process_mb} MB)`,
      f.rss_after_load_stopped_ratio_to_idle <= 1.2,
    ),
    t("check-config start to exit", "≤ 50 ms", `${f.check_config_ms} ms`, f.check_config_ms <= 50),
    t("serve start to listening", "≤ 60 ms", `${f.serve_ready_ms} ms`, f.serve_ready_ms <= 60),
  ];
}
