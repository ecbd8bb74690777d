/**
 * Reads a V8 `.cpuprofile` (what `deno run --cpu-prof` writes) and sums sample time per function: self time, and
 * inclusive time (the function or anything it called was on the stack). Used by bench/profile.ts.
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionTime {
  name: string;
  selfMs: number;
  totalMs: number;
  selfPct: number;
  totalPct: number;
}

/** Per-function self and inclusive times, heaviest inclusive first; `(idle)`-type V8 nodes are kept as named. */
export function summarizeProfile(profile: CpuProfile, root: string): { totalMs: number; functions: FunctionTime[] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (n: ProfileNode) => {
    const { functionName, url, lineNumber } = n.callFrame;
    const file = url.startsWith(`file://${root}`) ? url.slice(`file://${root}`.length) : url.replace(/^.*\//, "");
    return `${functionName || "(anonymous)"} ${file}${file ? `:${lineNumber + 1}` : ""}`;
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let totalUs = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    totalUs += dt;
    const node = byId.get(id)!;
    self.set(label(node), (self.get(label(node)) ?? 0) + dt);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const l = label(byId.get(cur)!);
      if (seen.has(l)) continue; // recursion counts once
      seen.add(l);
      total.set(l, (total.get(l) ?? 0) + dt);
    }
  });
  const functions = [...total.entries()].map(([name, t]) => ({
    name,
    selfMs: Math.round((self.get(name) ?? 0) / 100) / 10,
    totalMs: Math.round(t / 100) / 10,
    selfPct: Math.round(((self.get(name) ?? 0) / totalUs) * 1000) / 10,
    totalPct: Math.round((t / totalUs) * 1000) / 10,
  }));
  functions.sort((a, b) => b.totalMs - a.totalMs);
  return { totalMs: Math.round(totalUs / 1000), functions };
}

/** The newest `.cpuprofile` in `dir`, parsed. */
export async function readNewestProfile(dir: string): Promise<CpuProfile> {
  let newest: { name: string; mtime: number } | undefined;
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.name.endsWith(".cpuprofile")) continue;
    const mtime = (await Deno.stat(`${dir}/${entry.name}`)).mtime?.getTime() ?? 0;
    if (!newest || mtime > newest.mtime) newest = { name: entry.name, mtime };
  }
  if (!newest) throw new Error(`no .cpuprofile in ${dir}`);
  return JSON.parse(await Deno.readTextFile(`${dir}/${newest.name}`));
}
