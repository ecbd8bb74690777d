/**
 * The ACME front end's state in PostgreSQL (`AcmeFrontStore` for `type = postgres` storages): tables
 * `acme_accounts` (unique `thumbprint`), `acme_orders` and `acme_certificates` of migration 3 (migrations.ts), so any
 * instance answers any host. It has its own small pool (2 connections) on the storage's URL and schema.
 *
 * Contract: each call is one statement, bounded and classified by `PgConnection` (StorageUnavailableError when the
 * database cannot be reached). A new account is inserted with `on conflict (thumbprint) do nothing`, so two requests
 * with one key get one account; a key change updates the thumbprint under the unique constraint (`false` when
 * another account has the key).
 */
import type { Logger } from "../../ops/log.ts";
import { PgConnection } from "../postgres/connection.ts";
import type { AcmeFrontAccount, AcmeFrontCertificate, AcmeFrontOrder, AcmeFrontStore } from "../port.ts";

export interface PostgresAcmeFrontOptions {
  name: string;
  url?: string;
  schema: string;
  log: Logger;
}

export class PostgresAcmeFrontStore implements AcmeFrontStore {
  readonly #db: PgConnection;
  readonly #t: { accounts: string; orders: string; certificates: string };

  constructor(opts: PostgresAcmeFrontOptions) {
    this.#db = new PgConnection({ ...opts, poolSize: 2, applicationName: "acmems-acme-front" });
    const schema = this.#db.tables.schema;
    this.#t = {
      accounts: `${schema}.acme_accounts`,
      orders: `${schema}.acme_orders`,
      certificates: `${schema}.acme_certificates`,
    };
  }

  async getAccount(id: string): Promise<AcmeFrontAccount | null> {
    const rows = await this.#db.query("acme account", `select account from ${this.#t.accounts} where id = $1`, [id]);
    return doc<AcmeFrontAccount>(rows[0]?.account);
  }

  async accountByThumbprint(thumbprint: string): Promise<AcmeFrontAccount | null> {
    const rows = await this.#db.query(
      "acme account by key",
      `select account from ${this.#t.accounts} where thumbprint = $1`,
      [thumbprint],
    );
    return doc<AcmeFrontAccount>(rows[0]?.account);
  }

  async createAccount(account: AcmeFrontAccount): Promise<AcmeFrontAccount> {
    const rows = await this.#db.query(
      "acme new account",
      `insert into ${this.#t.accounts} (id, thumbprint, account) values ($1, $2, $3::jsonb)
       on conflict (thumbprint) do nothing returning account`,
      [account.id, account.thumbprint, JSON.stringify(account)],
    );
    if (rows.length > 0) return doc<AcmeFrontAccount>(rows[0].account)!;
    const existing = await this.accountByThumbprint(account.thumbprint);
    if (!existing) throw new Error(`The account with key ${account.thumbprint} vanished while it was created`);
    return existing;
  }

  async updateAccount(account: AcmeFrontAccount, _previousThumbprint: string): Promise<boolean> {
    try {
      await this.#db.query(
        "acme update account",
        `update ${this.#t.accounts} set thumbprint = $2, account = $3::jsonb where id = $1`,
        [account.id, account.thumbprint, JSON.stringify(account)],
      );
      return true;
    } catch (error) {
      if (/unique|duplicate/i.test(String((error as Error)?.message) + String((error as Error)?.cause))) return false;
      throw error;
    }
  }

  async getOrder(id: string): Promise<AcmeFrontOrder | null> {
    const rows = await this.#db.query("acme order", `select acme_order from ${this.#t.orders} where id = $1`, [id]);
    return doc<AcmeFrontOrder>(rows[0]?.acme_order);
  }

  async putOrder(order: AcmeFrontOrder): Promise<void> {
    await this.#db.query(
      "acme put order",
      `insert into ${this.#t.orders} (id, account_id, acme_order) values ($1, $2, $3::jsonb)
       on conflict (id) do update set acme_order = excluded.acme_order`,
      [order.id, order.account, JSON.stringify(order)],
    );
  }

  async getCertificate(certId: string): Promise<AcmeFrontCertificate | null> {
    const rows = await this.#db.query(
      "acme certificate",
      `select certificate from ${this.#t.certificates} where cert_id = $1`,
      [certId],
    );
    return doc<AcmeFrontCertificate>(rows[0]?.certificate);
  }

  async putCertificate(certificate: AcmeFrontCertificate): Promise<void> {
    await this.#db.query(
      "acme put certificate",
      `insert into ${this.#t.certificates} (cert_id, certificate) values ($1, $2::jsonb)
       on conflict (cert_id) do update set certificate = excluded.certificate`,
      [certificate.certId, JSON.stringify(certificate)],
    );
  }

  async close(): Promise<void> {
    this.#db.markClosed();
    await this.#db.end();
  }
}

/** A jsonb column as the driver hands it (text, since type fetching is off) parsed; null when absent. */
function doc<T>(value: unknown): T | null {
  if (value === undefined || value === null) return null;
  return (typeof value === "string" ? JSON.parse(value) : value) as T;
}
