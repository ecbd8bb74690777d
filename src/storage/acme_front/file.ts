/**
 * The ACME front end's state as files (`AcmeFrontStore` for `type = file` storages), under `<directory>/acme-front/`:
 * `accounts/<id>.json`, `keys/<thumbprint>` (the id of the account holding that key), `orders/<id>.json`,
 * `certificates/<certID>.json`. Mode 0600, directories 0700.
 *
 * Contract: every record is written atomically (src/lib/atomic_write.ts: temp file, fsync, rename); a key's index
 * file is created with link(2), which fails when it exists, so two accounts never get one key, also across processes
 * sharing the directory. A crash between writing an account and its index leaves an account nobody can find (harmless);
 * a crash in a key change leaves the old index too (the account is found by either key until the next change).
 * Ids come from the URL: anything outside base64url (and certID's one dot) is read as "no such record", never a path.
 */
import { atomicWriteFile } from "../../lib/atomic_write.ts";
import type { AcmeFrontAccount, AcmeFrontCertificate, AcmeFrontOrder, AcmeFrontStore } from "../port.ts";

const ID = /^[A-Za-z0-9_-]{1,128}$/;
const CERT_ID = /^[A-Za-z0-9_-]{1,200}\.[A-Za-z0-9_-]{1,200}$/;

export class FileAcmeFrontStore implements AcmeFrontStore {
  readonly #root: string;
  #ready: Promise<void> | undefined;

  constructor(directory: string) {
    this.#root = `${directory}/acme-front`;
  }

  #init(): Promise<void> {
    return this.#ready ??= (async () => {
      for (const sub of ["accounts", "keys", "orders", "certificates"]) {
        await Deno.mkdir(`${this.#root}/${sub}`, { recursive: true, mode: 0o700 });
      }
    })().catch((error) => {
      this.#ready = undefined;
      throw error;
    });
  }

  async getAccount(id: string): Promise<AcmeFrontAccount | null> {
    if (!ID.test(id)) return null;
    return await readJson<AcmeFrontAccount>(`${this.#root}/accounts/${id}.json`);
  }

  async accountByThumbprint(thumbprint: string): Promise<AcmeFrontAccount | null> {
    if (!ID.test(thumbprint)) return null;
    const id = await readText(`${this.#root}/keys/${thumbprint}`);
    if (id === null) return null;
    const account = await this.getAccount(id.trim());
    return account?.thumbprint === thumbprint ? account : null;
  }

  async createAccount(account: AcmeFrontAccount): Promise<AcmeFrontAccount> {
    await this.#init();
    const existing = await this.accountByThumbprint(account.thumbprint);
    if (existing) return existing;
    await atomicWriteFile(`${this.#root}/accounts/${account.id}.json`, JSON.stringify(account));
    if (!(await this.#linkKey(account.thumbprint, account.id))) {
      await Deno.remove(`${this.#root}/accounts/${account.id}.json`).catch(() => {});
      const winner = await this.accountByThumbprint(account.thumbprint);
      if (winner) return winner;
      throw new Error(`The key index ${account.thumbprint} exists but names no account: remove it and retry`);
    }
    return account;
  }

  async updateAccount(account: AcmeFrontAccount, previousThumbprint: string): Promise<boolean> {
    await this.#init();
    if (account.thumbprint !== previousThumbprint) {
      if (!(await this.#linkKey(account.thumbprint, account.id))) {
        const holder = await readText(`${this.#root}/keys/${account.thumbprint}`);
        if (holder?.trim() !== account.id) return false;
      }
    }
    await atomicWriteFile(`${this.#root}/accounts/${account.id}.json`, JSON.stringify(account));
    if (account.thumbprint !== previousThumbprint && ID.test(previousThumbprint)) {
      await Deno.remove(`${this.#root}/keys/${previousThumbprint}`).catch(() => {});
    }
    return true;
  }

  async getOrder(id: string): Promise<AcmeFrontOrder | null> {
    if (!ID.test(id)) return null;
    return await readJson<AcmeFrontOrder>(`${this.#root}/orders/${id}.json`);
  }

  async putOrder(order: AcmeFrontOrder): Promise<void> {
    if (!ID.test(order.id)) throw new Error(`Order id "${order.id}" is not base64url`);
    await this.#init();
    await atomicWriteFile(`${this.#root}/orders/${order.id}.json`, JSON.stringify(order));
  }

  async getCertificate(certId: string): Promise<AcmeFrontCertificate | null> {
    if (!CERT_ID.test(certId)) return null;
    return await readJson<AcmeFrontCertificate>(`${this.#root}/certificates/${certId}.json`);
  }

  async putCertificate(certificate: AcmeFrontCertificate): Promise<void> {
    if (!CERT_ID.test(certificate.certId)) throw new Error(`certID "${certificate.certId}" is not an ARI certID`);
    await this.#init();
    await atomicWriteFile(`${this.#root}/certificates/${certificate.certId}.json`, JSON.stringify(certificate));
  }

  /** Creates the key index `thumbprint → id`; false when the index exists already. */
  async #linkKey(thumbprint: string, id: string): Promise<boolean> {
    const temp = `${this.#root}/keys/.${thumbprint}.${crypto.randomUUID()}.tmp`;
    await atomicWriteFile(temp, id);
    try {
      await Deno.link(temp, `${this.#root}/keys/${thumbprint}`);
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) return false;
      throw error;
    } finally {
      await Deno.remove(temp).catch(() => {});
    }
  }
}

async function readText(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

async function readJson<T>(path: string): Promise<T | null> {
  const text = await readText(path);
  return text === null ? null : JSON.parse(text) as T;
}
