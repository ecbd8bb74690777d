/**
 * The DNS solvers a generation holds (src/server/dns_solvers.ts) stand for the real ones, built at first use: the
 * challenge type each reports, `start` running the real solver's (its log line and journal), `close` before any use
 * doing nothing, and a dns-persist-01 solver not built by `start`.
 */
import { assert, assertEquals } from "../../support/assert.ts";
import { memoryLogger } from "../../../src/ops/log.ts";
import { lazyDnsUpdateSolvers, lazyPersistSolver, LazySolver } from "../../../src/server/dns_solvers.ts";
import { PersistWatch } from "../../../src/challenges/dns_persist01/watch.ts";
import type { ChallengeSolver } from "../../../src/challenges/solver.ts";
import { BASE, load } from "../config/helpers.ts";

Deno.test("dns solvers: one per DNS-UPDATE block, with its challenge type; start runs the real solver's", async () => {
  const result = load(
    `${BASE}[verification "d"]\ntype = dns01-dnsUpdate\ndns-server = 127.0.0.1:5353\n` +
      `[verification "a"]\ntype = dns-account01\ndns-server = 127.0.0.1:5353\n[mgmt]\ndefault-verification = d\n`,
  );
  assert(result.ok && result.config, JSON.stringify(result.errors));
  const dir = await Deno.makeTempDir({ prefix: "acmems-dns-solvers-" });
  try {
    const config = { ...result.config, account: { ...result.config.account, dir } };
    const log = memoryLogger();
    const solvers = lazyDnsUpdateSolvers(config, log, {});
    assertEquals([...solvers].map(([name, s]) => [name, s.challengeType]), [["d", "dns-01"], ["a", "dns-account-01"]]);
    assertEquals(log.lines.length, 0, "nothing built yet");
    await solvers.get("d")!.start!();
    assert(log.lines.some((l) => l.includes("dns-01 verification") && l.includes('"d"')), log.lines.join("\n"));
    await solvers.get("d")!.close!();
    await solvers.get("a")!.close!(); // never used: nothing to close
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dns solvers: a lazy solver is built once, at the first call; a persist solver not by start", async () => {
  let built = 0;
  const calls: string[] = [];
  const real: ChallengeSolver = {
    challengeType: "dns-01",
    present: () => Promise.resolve(void calls.push("present")),
    cleanup: () => Promise.resolve(void calls.push("cleanup")),
  };
  const lazy = new LazySolver("dns-01", () => Promise.resolve((built++, real)));
  await lazy.close();
  assertEquals(built, 0);
  const task = { identifier: "a.example", wildcard: false, token: "t", keyAuthorization: "t.k" };
  await lazy.present(task);
  await lazy.cleanup(task);
  assertEquals([built, calls], [1, ["present", "cleanup"]]);

  const result = load(`${BASE}[verification "p"]\ntype = dns-persist01\nissuer-domain-name = ca.example\n`);
  assert(result.ok && result.config, JSON.stringify(result.errors));
  const v = result.config.verifications.get("p")!;
  assert(v.type === "dns-persist01");
  const watch = new PersistWatch({ lookups: new Map(), accountUrl: () => undefined });
  const persist = lazyPersistSolver(v, () => Promise.resolve([]), watch);
  assertEquals(persist.challengeType, "dns-persist-01");
  await persist.start!(); // builds nothing (dns-persist-01 has no start)
  await persist.close!();
});
