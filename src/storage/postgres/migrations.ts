/**
 * The PostgreSQL schema of the `postgres` storage, as numbered migrations.
 *
 * Rules: a migration is never edited once released, only added; each one is idempotent (`if not exists`), so a
 * half-known state is harmless; they run in one transaction under `pg_advisory_xact_lock` (several instances
 * starting at once apply them once, the others wait and find them applied); `schema_migrations` records which ran.
 * A database whose schema is newer than this build knows is refused (an older acmems must not write to it).
 *
 * Tables (in the configured schema, default `acmems`):
 * - `entries`: one row per cache key. `entry` is the cached certificate (JSON, null until the first write); the
 *   other columns are what the database itself needs: the claim (`owner`, `fence`, `lease_until` on the database
 *   clock, `order_url` of an order in progress) and the renewal index (`due_at`, `next_attempt_at`,
 *   `last_fetched_at`). Rows are never deleted, so a key's fence never goes back.
 * - `challenges`: pending http-01 answers every instance can serve.
 * - `compromised_keys` (2): keys revoked for keyCompromise (SPKI SHA-256, hex); /sign refuses them.
 * - `ledger_events`, `ledger_pauses` (3): the rate-limit ledger (src/storage/postgres/ledger.ts): one row per counted
 *   order or failed authorization, and the CA's pauses.
 */

export interface Migration {
  version: number;
  name: string;
  /** Statements; `{schema}` is replaced by the quoted schema name. */
  statements: string[];
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: "entries and challenges",
    statements: [
      `create table if not exists {schema}.entries (
        cache_key text primary key,
        entry jsonb,
        not_after timestamptz,
        due_at timestamptz,
        next_attempt_at timestamptz,
        last_fetched_at timestamptz,
        owner text,
        fence bigint not null default 0,
        lease_until timestamptz not null default '-infinity',
        order_url text,
        updated_at timestamptz not null default now()
      )`,
      `create index if not exists entries_due on {schema}.entries (due_at) where entry is not null`,
      `create table if not exists {schema}.challenges (
        token text primary key,
        key_authorization text not null,
        host text not null,
        expires_at timestamptz not null
      )`,
      `create index if not exists challenges_expires on {schema}.challenges (expires_at)`,
    ],
  },
  {
    version: 2,
    name: "compromised keys",
    statements: [
      `create table if not exists {schema}.compromised_keys (
        spki_sha256 text primary key,
        recorded_at timestamptz not null
      )`,
    ],
  },
  {
    version: 3,
    name: "rate-limit ledger",
    statements: [
      `create table if not exists {schema}.ledger_events (
        id bigserial primary key,
        owner text not null,
        key text not null,
        at_ms bigint not null
      )`,
      `create index if not exists ledger_events_key on {schema}.ledger_events (owner, key, at_ms)`,
      `create index if not exists ledger_events_at on {schema}.ledger_events (at_ms)`,
      `create table if not exists {schema}.ledger_pauses (
        owner text not null,
        key text not null,
        until_ms bigint not null,
        detail text not null,
        unpause_url text,
        primary key (owner, key)
      )`,
    ],
  },
];

/** The newest schema version this build knows. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

/** A PostgreSQL identifier, double-quoted. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Schema names acmems accepts (lower case, so quoting never changes what an operator typed). */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
