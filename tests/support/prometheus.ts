/**
 * A strict reader of the Prometheus text exposition format (0.0.4) for tests: every line must be a `# HELP`,
 * `# TYPE`, or a sample `name{label="value",…} number`; anything else throws, so a malformed /metrics body fails the
 * test rather than being skipped.
 */

/** One sample line. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parsed exposition: samples in order, plus the declared TYPE of each metric family. */
export interface Exposition {
  samples: Sample[];
  types: Map<string, string>;
  /**
   * The value of the sample with exactly these labels (`{}`: no labels), or undefined when there is none.
   * Throws if several samples match (a duplicate series is a bug in the exporter).
   */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** Every sample of `name` whose labels include `labels`. */
  find(name: string, labels?: Record<string, string>): Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

export function parsePrometheus(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  for (const [i, line] of lines.entries()) {
    const fail = (why: string) => {
      throw new Error(`metrics line ${i + 1}: ${why}: ${JSON.stringify(line)}`);
    };
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (!m) fail("not a HELP or TYPE comment");
      if (!NAME.test(m![2])) fail("bad metric name");
      if (m![1] === "TYPE") {
        if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(m![3] ?? "")) fail("unknown type");
        if (types.has(m![2])) fail("second TYPE line for the metric");
        types.set(m![2], m![3]);
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) fail("not a sample");
    const labels: Record<string, string> = {};
    let rest = m![2] ?? "";
    while (rest !== "") {
      const l = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/.exec(rest);
      if (!l) fail("bad label list");
      if (l![1] in labels) fail(`label ${l![1]} twice`);
      labels[l![1]] = l![2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
      rest = rest.slice(l![0].length);
    }
    const raw = m![3];
    const value = raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : raw === "NaN" ? NaN : Number(raw);
    if (Number.isNaN(value) && raw !== "NaN") fail("value is not a number");
    samples.push({ name: m![1], labels, value });
  }
  const includes = (s: Sample, labels: Record<string, string>) =>
    Object.entries(labels).every(([k, v]) => s.labels[k] === v);
  const find = (name: string, labels: Record<string, string> = {}) =>
    samples.filter((s) => s.name === name && includes(s, labels));
  return {
    samples,
    types,
    find,
    value(name, labels = {}) {
      const exact = find(name, labels).filter((s) => Object.keys(s.labels).length === Object.keys(labels).length);
      if (exact.length > 1) throw new Error(`${name}${JSON.stringify(labels)} appears ${exact.length} times`);
      return exact[0]?.value;
    },
  };
}
