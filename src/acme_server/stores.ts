/**
 * Which `AcmeFrontStore` holds what: an account (and its orders and certificates) lives in the storage of the auth
 * block it is bound to (the block's `storage`, else `[mgmt] default-storage`); a block without a storage, or with a
 * `none` one, keeps them in this process's memory. Lookups by id, key or certID ask every store the config names
 * (a handful), first the shared ones.
 *
 * Contract: stores are built once per storage (directory or database) and outlive reloads; the memory store lives as
 * long as the front end. Construction does no I/O.
 */
import type { AuthBlock, Config } from "../config/types.ts";
import type { Logger } from "../ops/log.ts";
import { FileAcmeFrontStore } from "../storage/acme_front/file.ts";
import { MemoryAcmeFrontStore } from "../storage/acme_front/memory.ts";
import type { PostgresAcmeFrontStore } from "../storage/acme_front/postgres.ts";
import { createPostgresAcmeFrontStore } from "../storage/factory.ts";
import type { AcmeFrontStore } from "../storage/port.ts";

export class FrontStores {
  readonly memory = new MemoryAcmeFrontStore();
  readonly #built = new Map<string, AcmeFrontStore>();

  constructor(private readonly log: Logger) {}

  /** The store of `block` under `config`. */
  forBlock(config: Config, block: AuthBlock): AcmeFrontStore {
    return this.forStorage(config, block.storage ?? config.mgmt.defaultStorage);
  }

  /** The store of the storage named `name` (null or unknown or `none`: memory). */
  forStorage(config: Config, name: string | null): AcmeFrontStore {
    const storage = name === null ? undefined : config.storages.get(name);
    if (!storage || storage.type === "none") return this.memory;
    const id = storage.type === "file"
      ? `file ${storage.directory}`
      : `postgres ${storage.url ?? ""} ${storage.schema}`;
    let store = this.#built.get(id);
    if (!store) {
      store = storage.type === "file"
        ? new FileAcmeFrontStore(storage.directory)
        : createPostgresAcmeFrontStore({ name: storage.name, url: storage.url, schema: storage.schema, log: this.log });
      this.#built.set(id, store);
    }
    return store;
  }

  /** Every store the config's ACME-enabled blocks use (shared ones first), then memory; each once. */
  all(config: Config): AcmeFrontStore[] {
    const stores = new Set<AcmeFrontStore>();
    for (const block of config.auth) if (block.acmeEab) stores.add(this.forBlock(config, block));
    stores.delete(this.memory);
    return [...stores, this.memory];
  }

  /** The first non-null answer of `find` over `all(config)`, with the store that gave it. */
  async find<T>(
    config: Config,
    find: (store: AcmeFrontStore) => Promise<T | null>,
  ): Promise<{ value: T; store: AcmeFrontStore } | null> {
    for (const store of this.all(config)) {
      const value = await find(store);
      if (value !== null) return { value, store };
    }
    return null;
  }

  /** Closes database connections. */
  async close(): Promise<void> {
    for (const store of this.#built.values()) {
      if ("close" in store) await (store as PostgresAcmeFrontStore).close();
    }
  }
}
