/**
 * Brings the configured schema up to the version this build knows (migrations.ts), or refuses a newer one.
 *
 * Contract: one transaction under `pg_advisory_xact_lock(MIGRATION_LOCK, hashtext(schema))`, so several instances
 * starting at once apply each migration once (the others wait, then find them applied); a crash or an outage leaves
 * the schema as it was (the caller retries at the next call). A schema newer than this build is refused for good:
 * the connection is marked unusable (`refuse`) so an older acmems never writes to it.
 */
import type { PgConnection } from "./connection.ts";
import { MIGRATIONS, SCHEMA_VERSION } from "./migrations.ts";

/** `pg_advisory_xact_lock(MIGRATION_LOCK, hashtext(schema))` serializes migrations of one schema. */
const MIGRATION_LOCK = 0x61636d65; // "acme"

/** Runs the missing migrations; throws StorageUnavailableError (retry later) or PostgresStorageError. */
export async function migrate(db: PgConnection): Promise<void> {
  const t = db.tables;
  const applied = await db.statement("migrate", (sql) =>
    sql.begin(async (tx) => {
      await tx.unsafe(`select pg_advisory_xact_lock(${MIGRATION_LOCK}, hashtext($1))`, [db.schema]);
      const exists = await tx.unsafe(`select 1 from pg_namespace where nspname = $1`, [db.schema]);
      if (exists.length === 0) await tx.unsafe(`create schema ${t.schema}`);
      await tx.unsafe(
        `create table if not exists ${t.migrations} (version integer primary key, name text not null, ` +
          `applied_at timestamptz not null default now())`,
      );
      const [{ version }] = await tx.unsafe(`select coalesce(max(version), 0)::int as version from ${t.migrations}`);
      if (Number(version) > SCHEMA_VERSION) {
        return { newer: Number(version), ran: [] as number[] };
      }
      const ran: number[] = [];
      for (const migration of MIGRATIONS) {
        if (migration.version <= Number(version)) continue;
        for (const statement of migration.statements) await tx.unsafe(statement.replaceAll("{schema}", t.schema));
        await tx.unsafe(`insert into ${t.migrations} (version, name) values ($1, $2)`, [
          migration.version,
          migration.name,
        ]);
        ran.push(migration.version);
      }
      return { newer: 0, ran };
    }));
  if (applied.newer) {
    const problem = `[storage "${db.name}"] the database schema "${db.schema}" is at version ${applied.newer}, ` +
      `newer than this acmems knows (${SCHEMA_VERSION}): upgrade acmems`;
    const refused = db.refuse(problem);
    db.log.error("postgres schema too new", { storage: db.name, problem });
    throw refused;
  }
  if (applied.ran.length > 0) {
    db.log.info("postgres schema migrated", { storage: db.name, schema: db.schema, ran: applied.ran });
  }
}
