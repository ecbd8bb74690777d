/**
 * Builds the storages a config names and runs the lifecycle steps every storage kind shares, so nothing outside
 * `storage/` needs to know which kind it holds.
 *
 * Contract:
 * - `createStorages` never does I/O: it only constructs. A `postgres` storage needs its driver loaded first
 *   (`await loadStorageDrivers(config)`): the PostgreSQL module is imported only when a config names one, so a
 *   file-only acmems never loads it (start-up time and memory).
 * - `prepareStorages` throws for a configuration problem (a cache directory that cannot be created, naming the
 *   path): the caller refuses to start or to reload. A database that cannot be reached is not a configuration
 *   problem: it starts in the background (requests needing it get 503 and /ready says why).
 * - `storagesWritableProblem` writes real data blocks into every file storage ("" when all are writable).
 */
import type { Config } from "../config/types.ts";
import type { Logger } from "../ops/log.ts";
import type { AcmemsMetrics } from "../ops/metrics.ts";
import { FileStorage } from "./file.ts";
import type { Storage } from "./mod.ts";
import { NoneStorage } from "./none.ts";

type PostgresModule = typeof import("./postgres/mod.ts");
let postgresModule: PostgresModule | undefined;
let acmeFrontPostgresModule: typeof import("./acme_front/postgres.ts") | undefined;

/** Loads the driver modules `config`'s storages need (today: PostgreSQL's, only when a storage is postgres). */
export async function loadStorageDrivers(config: Pick<Config, "storages">): Promise<void> {
  if (postgresModule) return;
  if (![...config.storages.values()].some((storage) => storage.type === "postgres")) return;
  postgresModule = await import("./postgres/mod.ts");
  acmeFrontPostgresModule = await import("./acme_front/postgres.ts");
}

/** The ACME front end's store in a postgres storage's database (the driver loaded by `loadStorageDrivers`). */
export function createPostgresAcmeFrontStore(
  opts: ConstructorParameters<typeof import("./acme_front/postgres.ts").PostgresAcmeFrontStore>[0],
): import("./acme_front/postgres.ts").PostgresAcmeFrontStore {
  if (!acmeFrontPostgresModule) {
    throw new Error(
      `[storage "${opts.name}"] is type = postgres, but the PostgreSQL driver is not loaded: ` +
        "await loadStorageDrivers(config) first",
    );
  }
  return new acmeFrontPostgresModule.PostgresAcmeFrontStore(opts);
}

/** One storage per [storage] block (and the implicit cache). */
export function createStorages(
  config: Config,
  log: Logger,
  beforeRename?: (tempPath: string) => void | Promise<void>,
  metrics?: AcmemsMetrics,
): Map<string, Storage> {
  const storages = new Map<string, Storage>();
  for (const storage of config.storages.values()) {
    if (storage.type === "postgres") {
      const name = storage.name;
      if (!postgresModule) {
        throw new Error(
          `[storage "${name}"] is type = postgres, but the PostgreSQL driver is not loaded: ` +
            "await loadStorageDrivers(config) before createStorages",
        );
      }
      storages.set(
        name,
        new postgresModule.PostgresStorage({
          name,
          url: storage.url,
          poolSize: storage.poolSize,
          leaseMs: storage.leaseMs,
          schema: storage.schema,
          renewWithinDays: storage.renewWithinDays,
          renewActiveDays: storage.renewActiveDays,
          log,
          events: metrics && {
            notification: () => metrics.storageNotifications.inc({ storage: name }),
            error: (kind) => metrics.storageErrors.inc({ storage: name, kind }),
            fencedOut: (operation) => metrics.storageFencedWrites.inc({ storage: name, operation }),
          },
        }),
      );
      continue;
    }
    storages.set(
      storage.name,
      storage.type === "file"
        ? new FileStorage({
          name: storage.name,
          directory: storage.directory,
          renewWithinDays: storage.renewWithinDays,
          renewActiveDays: storage.renewActiveDays,
          log,
          beforeRename,
        })
        : new NoneStorage(storage.name),
    );
  }
  return storages;
}

/** Creates what each storage needs before it is used; throws naming the path when a file storage cannot. */
export async function prepareStorages(storages: Iterable<Storage>): Promise<void> {
  const all = [...storages];
  for (const storage of all) {
    if (storage instanceof FileStorage) await storage.init();
  }
  await Promise.all(all.map((storage) => storage.start?.()));
}

/** Why a file storage cannot be written right now, or "" (writes real data blocks: an empty file fits a full disk). */
export async function storagesWritableProblem(storages: Iterable<Storage>): Promise<string> {
  for (const storage of storages) {
    if (!(storage instanceof FileStorage)) continue;
    try {
      const probe = await Deno.makeTempFile({ dir: storage.directory, prefix: ".ready-", suffix: ".tmp" });
      try {
        const file = await Deno.open(probe, { write: true });
        try {
          await file.write(new Uint8Array(8192));
          await file.sync();
        } finally {
          file.close();
        }
      } finally {
        await Deno.remove(probe).catch(() => {});
      }
    } catch (error) {
      return `storage "${storage.name}": cannot write ${storage.directory}: ${
        error instanceof Error ? error.message : error
      }`;
    }
  }
  return "";
}
