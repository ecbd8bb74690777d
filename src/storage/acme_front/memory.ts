/**
 * The ACME front end's state in memory (`AcmeFrontStore` for blocks without a shared storage, type `none`): lost at
 * restart and seen by this process only. Records are copied in and out, so callers never share one object.
 */
import type { AcmeFrontAccount, AcmeFrontCertificate, AcmeFrontOrder, AcmeFrontStore } from "../port.ts";

/** At most this many orders (and certificates) are kept; the oldest go first. */
const MAX_RECORDS = 10_000;

export class MemoryAcmeFrontStore implements AcmeFrontStore {
  readonly #accounts = new Map<string, AcmeFrontAccount>();
  readonly #byThumbprint = new Map<string, string>();
  readonly #orders = new Map<string, AcmeFrontOrder>();
  readonly #certificates = new Map<string, AcmeFrontCertificate>();

  getAccount(id: string): Promise<AcmeFrontAccount | null> {
    return Promise.resolve(copy(this.#accounts.get(id)));
  }

  accountByThumbprint(thumbprint: string): Promise<AcmeFrontAccount | null> {
    const id = this.#byThumbprint.get(thumbprint);
    return Promise.resolve(id === undefined ? null : copy(this.#accounts.get(id)));
  }

  createAccount(account: AcmeFrontAccount): Promise<AcmeFrontAccount> {
    const existing = this.#byThumbprint.get(account.thumbprint);
    if (existing !== undefined) return Promise.resolve(copy(this.#accounts.get(existing))!);
    this.#accounts.set(account.id, structuredClone(account));
    this.#byThumbprint.set(account.thumbprint, account.id);
    return Promise.resolve(structuredClone(account));
  }

  updateAccount(account: AcmeFrontAccount, previousThumbprint: string): Promise<boolean> {
    if (account.thumbprint !== previousThumbprint) {
      const holder = this.#byThumbprint.get(account.thumbprint);
      if (holder !== undefined && holder !== account.id) return Promise.resolve(false);
      this.#byThumbprint.delete(previousThumbprint);
      this.#byThumbprint.set(account.thumbprint, account.id);
    }
    this.#accounts.set(account.id, structuredClone(account));
    return Promise.resolve(true);
  }

  getOrder(id: string): Promise<AcmeFrontOrder | null> {
    return Promise.resolve(copy(this.#orders.get(id)));
  }

  putOrder(order: AcmeFrontOrder): Promise<void> {
    bounded(this.#orders).set(order.id, structuredClone(order));
    return Promise.resolve();
  }

  getCertificate(certId: string): Promise<AcmeFrontCertificate | null> {
    return Promise.resolve(copy(this.#certificates.get(certId)));
  }

  putCertificate(certificate: AcmeFrontCertificate): Promise<void> {
    bounded(this.#certificates).set(certificate.certId, structuredClone(certificate));
    return Promise.resolve();
  }
}

function copy<T>(value: T | undefined): T | null {
  return value === undefined ? null : structuredClone(value);
}

function bounded<T>(map: Map<string, T>): Map<string, T> {
  while (map.size >= MAX_RECORDS) map.delete(map.keys().next().value!);
  return map;
}
