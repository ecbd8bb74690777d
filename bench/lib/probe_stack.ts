/**
 * The stack the profiling probes run against (bench/profile.ts, bench/probes/heap_sample.ts): named, pebble
 * validating through acmems' challenge port, and the bench's acmems with one planted http-01 answer, under the
 * probe's extra deno flags; and the one load each probe drives through wrk.
 */
import { startNamed } from "../../tests/support/named.ts";
import { startPebble } from "../../tests/support/pebble.ts";
import { freePorts } from "../../tests/support/ports.ts";
import { makeCsr } from "../../tests/support/csr.ts";
import { type BenchAcmems, hmacHeader, randomToken, startAcmemsWithToken } from "./stack.ts";
import { runWrk, type WrkResult } from "./wrk.ts";

/** `/sign` cache hits, answers to the planted token, or 404s to an unknown one. */
export type ProbeLoad = "sign" | "challenge" | "unknown";

export interface ProbeStack {
  acmems: BenchAcmems;
  /** wrk -t2 -c64 for `seconds` (sign: after one /sign that puts the certificate in the cache). */
  load(kind: ProbeLoad, seconds: number): Promise<WrkResult>;
  /** Stops acmems, pebble and named. */
  stop(): Promise<void>;
}

export async function startProbeStack(work: string, denoFlags: string[]): Promise<ProbeStack> {
  const named = await startNamed();
  const stops: (() => Promise<unknown>)[] = [() => named.stop()];
  const stop = async () => {
    for (const s of stops.reverse()) await s();
  };
  try {
    const [mgmtPort, challengePort] = await freePorts(2);
    const pebble = await startPebble({ dnsServer: named.address, httpPort: challengePort });
    stops.push(() => pebble.stop());
    const hmacKey = randomToken();
    const host = "bench.example.test";
    const token = randomToken();
    const acmems = await startAcmemsWithToken({
      dir: `${work}/acmems`,
      setup: { directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, mgmtPort, challengePort, hmacKey },
      host,
      token,
      keyAuthorization: `${token}.${randomToken()}`,
      denoFlags,
    });
    stops.push(() => acmems.stop());
    let csr: Promise<{ file: string; auth: string }> | undefined;
    const signed = async () => {
      const made = await makeCsr({ names: ["sign.example.test"], dir: work });
      const auth = await hmacHeader(hmacKey, made.csrPem);
      const first = await fetch(`${acmems.mgmtUrl}/sign`, {
        method: "POST",
        body: made.csrPem,
        headers: { Authentication: auth },
      });
      await first.text();
      if (first.status !== 200) throw new Error(`first /sign: ${first.status}`);
      return { file: made.csrFile, auth };
    };
    return {
      acmems,
      async load(kind, seconds) {
        if (kind === "sign") {
          const { file, auth } = await (csr ??= signed());
          return await runWrk({
            url: `${acmems.mgmtUrl}/sign`,
            seconds,
            script: "sign.lua",
            env: { WRK_BODY_FILE: file, WRK_AUTH: auth },
          });
        }
        const path = `/.well-known/acme-challenge/${kind === "challenge" ? token : randomToken()}`;
        return await runWrk({ url: `${acmems.challengeUrl}${path}`, seconds, headers: [`Host: ${host}`] });
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
