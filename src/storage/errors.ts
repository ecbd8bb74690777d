/**
 * Every error a storage throws, in one place, so callers can tell them apart without importing a storage kind.
 *
 * - `StorageUnavailableError`: transient (database down or partitioned, storage closed): worth retrying later;
 *   /sign answers 503 with its Retry-After.
 * - `StorageError`: a `file` storage problem (a directory that cannot be created, a file that cannot be written,
 *   an invalid key or token); the message names the path.
 * - `PostgresStorageError`: a non-transient database failure (a bug or a schema problem, not an outage).
 * - `ClaimLostError`: the claim ended before the work under it (lease deadline passed, or taken over).
 */

/** The storage cannot be reached now (database down or partitioned): the request is worth retrying later. */
export class StorageUnavailableError extends Error {
  constructor(message: string, readonly retryAfterSeconds = 10) {
    super(message);
    this.name = "StorageUnavailableError";
  }
}

/** A `file` storage failure; the message names the path or the invalid value. */
export class StorageError extends Error {
  override name = "StorageError";
}

/** A non-transient database failure (a bug or a schema problem, not an outage). */
export class PostgresStorageError extends Error {
  override name = "PostgresStorageError";
}

/** The claim ended before the work under it: another instance may now hold the key. */
export class ClaimLostError extends Error {
  constructor(message: string, readonly reason: "deadline" | "taken-over") {
    super(message);
    this.name = "ClaimLostError";
  }
}
