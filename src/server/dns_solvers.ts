/**
 * A generation's DNS solvers (dns-01 and dns-account-01 by DNS UPDATE, dns-persist-01) whose code is imported at
 * first use: the DNS client, wire format, TSIG, zone discovery and journal are a tenth of the server's modules and
 * most configs (http-01 only) never need them, so `serve` starts without them.
 *
 * Contract: each solver behaves as the one it stands for (src/challenges/dns01/factory.ts, dns_persist01/solver.ts);
 * `start`, `present` and `cleanup` wait for the import the first time. The DNS-UPDATE solvers of one generation are
 * created together, at the first call on any of them (they share the account directory's cleanup journal);
 * `close` on a solver never used has nothing to close. A TXT lookup (`lazyTxtLookup`) loads the resolver the same
 * way, at its first lookup.
 */
import type { Config, DnsPersistVerification } from "../config/types.ts";
import type { Logger } from "../ops/log.ts";
import type { ChallengeSolver, ChallengeTask } from "../challenges/solver.ts";
import type { DnsUpdateSolverOptions } from "../challenges/dns01/solver.ts";
import type { TxtLookup } from "../challenges/dns_persist01/lookup.ts";
import type { PersistWatch } from "../challenges/dns_persist01/watch.ts";

/**
 * A solver whose real one is built (module import included) at the first call. `lifecycle`: the real one has
 * `start`/`close` (without, `start` does not build it: dns-persist-01 loads at its first challenge).
 */
export class LazySolver implements ChallengeSolver {
  #solver: Promise<ChallengeSolver> | undefined;

  constructor(
    readonly challengeType: ChallengeSolver["challengeType"],
    private readonly create: () => Promise<ChallengeSolver>,
    private readonly lifecycle = true,
  ) {}

  #get(): Promise<ChallengeSolver> {
    return this.#solver ??= this.create();
  }

  async present(task: ChallengeTask): Promise<void> {
    await (await this.#get()).present(task);
  }

  async cleanup(task: ChallengeTask): Promise<void> {
    await (await this.#get()).cleanup(task);
  }

  async start(): Promise<void> {
    if (this.lifecycle) await (await this.#get()).start?.();
  }

  async close(): Promise<void> {
    if (this.#solver) await (await this.#solver).close?.();
  }
}

/** One solver per DNS-UPDATE verification of `config` (createDnsUpdateSolvers, at first use). */
export function lazyDnsUpdateSolvers(
  config: Config,
  log: Logger,
  hooks: Pick<DnsUpdateSolverOptions, "onUpdateFailure">,
): Map<string, ChallengeSolver> {
  const solvers = new Map<string, ChallengeSolver>();
  let all: Promise<Map<string, ChallengeSolver>> | undefined;
  const load = () =>
    all ??= import("../challenges/dns01/factory.ts").then((m) => m.createDnsUpdateSolvers(config, log, hooks));
  for (const v of config.verifications.values()) {
    if (v.type !== "dns01-dnsUpdate" && v.type !== "dns-account01") continue;
    const type = v.type === "dns-account01" ? "dns-account-01" : "dns-01";
    solvers.set(v.name, new LazySolver(type, async () => (await load()).get(v.name)!));
  }
  return solvers;
}

/** `txtLookup(servers, timeoutMs)` of src/challenges/dns_persist01/lookup.ts, built at the first lookup. */
export function lazyTxtLookup(v: DnsPersistVerification): TxtLookup {
  let lookup: Promise<TxtLookup> | undefined;
  return async (owner) => {
    lookup ??= import("../challenges/dns_persist01/lookup.ts").then((m) => m.txtLookup(v.resolvers, v.timeoutMs));
    return await (await lookup)(owner);
  };
}

/** `new DnsPersistSolver(v, { lookup, watch })`, built at first use. */
export function lazyPersistSolver(v: DnsPersistVerification, lookup: TxtLookup, watch: PersistWatch): ChallengeSolver {
  return new LazySolver(
    "dns-persist-01",
    async () => new (await import("../challenges/dns_persist01/solver.ts")).DnsPersistSolver(v, { lookup, watch }),
    false,
  );
}
