/**
 * Issuance: N distinct CSRs at once, through acmems (`POST /sign` with the HMAC header) and through the floor (our
 * ACME client alone); the wall time is from the first request to the last certificate.
 *
 * Each block of runs gets a fresh "rig": its own pebble for acmems, its own pebble for the floor (pebble's VA calls
 * one fixed port per instance), a new acmems subprocess and a new floor client. Fresh pebbles matter: pebble 2.10
 * can deadlock under concurrent orders, more likely the more authorizations it holds (see bench/README.md), and a
 * deadlocked pebble never recovers; a run that stalls is recorded and the block goes on with a new rig.
 */
import { makeCsr } from "../../tests/support/csr.ts";
import { type Pebble, startPebble } from "../../tests/support/pebble.ts";
import { freePorts } from "../../tests/support/ports.ts";
import { type FloorIssuer, startFloor } from "./floor.ts";
import { type BenchAcmems, heapMb, hmacHeader, memoryMb, randomToken, startAcmemsWithToken } from "./stack.ts";

export interface CsrCase {
  names: string[];
  csrPem: string;
}

/** Posts every CSR at once; throws unless every answer is 200 with `X-Acmems-Cache: miss`. Returns ms. */
export async function issueThroughAcmems(mgmtUrl: string, hmacKey: string, csrs: CsrCase[]): Promise<number> {
  const headers = await Promise.all(csrs.map((c) => hmacHeader(hmacKey, c.csrPem)));
  const started = performance.now();
  const answers = await Promise.all(csrs.map(async (c, i) => {
    const response = await fetch(`${mgmtUrl}/sign`, {
      method: "POST",
      body: c.csrPem,
      headers: { Authentication: headers[i], "Content-Type": "application/pkcs10" },
    });
    const body = await response.text();
    return { status: response.status, cache: response.headers.get("x-acmems-cache"), body, names: c.names };
  }));
  const ms = performance.now() - started;
  const bad = answers.find((a) => a.status !== 200 || a.cache !== "miss");
  if (bad) throw new Error(`/sign for ${bad.names.join(",")}: ${bad.status} (cache ${bad.cache}) ${bad.body}`);
  return ms;
}

/** Issues every CSR at once with `issue` (the floor); returns ms. */
export async function issueWith(
  issue: (names: string[], csrPem: string) => Promise<string>,
  csrs: CsrCase[],
): Promise<number> {
  const started = performance.now();
  await Promise.all(csrs.map((c) => issue(c.names, c.csrPem)));
  return performance.now() - started;
}

/** acmems and the floor, each with its own fresh pebble. */
export interface Rig {
  acmems: BenchAcmems;
  floor: FloorIssuer;
  pebbles: Pebble[];
  stop(): Promise<void>;
}

export interface RigOptions {
  dir: string;
  dnsServer: string;
  /** PEBBLE_VA_ALWAYS_VALID: pebble skips validation (no VA requests, no race with the first poll). */
  alwaysValid: boolean;
  hmacKey: string;
  host: string;
}

let rigs = 0;

export async function startRig(opts: RigOptions): Promise<Rig> {
  const [mgmtPort, challengePort, floorPort] = await freePorts(3);
  const stops: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => {});
  };
  try {
    const pebble = await startPebble({
      dnsServer: opts.dnsServer,
      httpPort: challengePort,
      alwaysValid: opts.alwaysValid,
    });
    stops.push(() => pebble.stop());
    const floorPebble = await startPebble({
      dnsServer: opts.dnsServer,
      httpPort: floorPort,
      alwaysValid: opts.alwaysValid,
    });
    stops.push(() => floorPebble.stop());
    const token = randomToken();
    const acmems = await startAcmemsWithToken({
      dir: `${opts.dir}/rig${++rigs}`,
      name: `acmems-rig${rigs}`,
      setup: {
        directoryUrl: pebble.directoryUrl,
        caFile: pebble.caFile,
        mgmtPort,
        challengePort,
        hmacKey: opts.hmacKey,
      },
      host: opts.host,
      token,
      keyAuthorization: `${token}.${randomToken()}`,
    });
    stops.push(() => acmems.stop());
    const floor = await startFloor({
      directoryUrl: floorPebble.directoryUrl,
      caPem: floorPebble.caPem,
      httpPort: floorPort,
      profile: "default",
    });
    stops.push(() => floor.close());
    return { acmems, floor, pebbles: [pebble, floorPebble], stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** One block of issuance runs: `reps` pairs (acmems and floor, alternating which goes first) of `n` CSRs each. */
export interface Block {
  key: string;
  n: number;
  reps: number;
  alwaysValid: boolean;
  /** A new rig before every pair (n = 50: keeps pebble's store small). */
  rigPerPair: boolean;
}

export interface BlockResult {
  acmems: number[];
  floor: number[];
  /** VmRSS (MiB) of acmems after each pair. */
  rssAfterMb: number[];
  /** V8 heap total (MiB) of acmems after each pair. */
  heapAfterMb: number[];
  /** VmRSS (MiB) of each rig's acmems once it was ready. */
  rssReadyMb: number[];
}

export interface Failure {
  run: string;
  side: string;
  error: string;
}

/** Longest wait for one run before it counts as stalled. */
const STALL_MS = 25_000;

/**
 * Runs a block. Before the counted pairs, each rig issues one CSR through each side (first orders of a new account,
 * JIT warm-up). A failed or stalled run is recorded; after a stall the rig is replaced and the pair tried once more.
 */
export async function runBlock(
  block: Block,
  opts: RigOptions & { csrDir: string; runId: string; log: (message: string) => void },
): Promise<{ result: BlockResult; failures: Failure[] }> {
  const result: BlockResult = { acmems: [], floor: [], rssAfterMb: [], heapAfterMb: [], rssReadyMb: [] };
  const failures: Failure[] = [];
  let rig: Rig | undefined;
  let sets = 0;
  const makeSet = async (n: number): Promise<CsrCase[]> => {
    const label = `${block.key.replace("_", "")}s${sets++}`;
    const set: CsrCase[] = [];
    for (let i = 0; i < n; i += 8) {
      set.push(
        ...await Promise.all(Array.from({ length: Math.min(8, n - i) }, (_, j) => {
          const name = `${label}-${i + j}-${opts.runId}.example.test`;
          return makeCsr({ names: [name], dir: opts.csrDir }).then((c) => ({ names: [name], csrPem: c.csrPem }));
        })),
      );
    }
    return set;
  };
  const newRig = async () => {
    await rig?.stop();
    rig = await startRig(opts);
    result.rssReadyMb.push((await memoryMb(rig.acmems.pid)).rss);
    const warm = await makeSet(1);
    await issueThroughAcmems(rig.acmems.mgmtUrl, opts.hmacKey, warm);
    await issueWith(rig.floor.issue, warm);
  };
  /** ms, or the reason it failed; "stall" replaces the rig. */
  const timed = async (run: () => Promise<number>): Promise<number | string> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        run(),
        new Promise<string>((resolve) => (timer = setTimeout(() => resolve("stall"), STALL_MS))),
      ]);
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    } finally {
      clearTimeout(timer);
    }
  };
  try {
    for (let pair = 0; pair < block.reps; pair++) {
      for (let attempt = 1; attempt <= 2; attempt++) {
        if (!rig || block.rigPerPair) await newRig();
        const set = await makeSet(block.n);
        const r = rig!;
        const sides = [
          ["acmems", () => issueThroughAcmems(r.acmems.mgmtUrl, opts.hmacKey, set)],
          ["floor", () => issueWith(r.floor.issue, set)],
        ] as const;
        const order = pair % 2 === 0 ? sides : [sides[1], sides[0]];
        const got: Record<string, number> = {};
        let stalled = false;
        for (const [side, run] of order) {
          const outcome = await timed(run);
          if (typeof outcome === "number") {
            got[side] = outcome;
            continue;
          }
          failures.push({ run: `${block.key} pair ${pair + 1} attempt ${attempt}`, side, error: outcome });
          opts.log(`  ${block.key} pair ${pair + 1}: ${side} failed: ${outcome.slice(0, 200)}`);
          if (outcome === "stall") stalled = true;
          break;
        }
        if (got.acmems !== undefined && got.floor !== undefined) {
          result.acmems.push(got.acmems);
          result.floor.push(got.floor);
          result.rssAfterMb.push((await memoryMb(r.acmems.pid)).rss);
          result.heapAfterMb.push((await heapMb(r.acmems)).heap_total);
          break;
        }
        if (stalled || attempt === 1) {
          await rig?.stop();
          rig = undefined;
        }
      }
    }
  } finally {
    await rig?.stop();
  }
  return { result, failures };
}
