/**
 * Keeps a storage claim alive while an order runs, and says when work under it must stop.
 *
 * For a claim with a finite `deadline` (a lease, `postgres`), the keeper extends the lease every third of it; a
 * successful extend moves `claim.deadline`, `false` means another instance took the key over. The keeper's
 * `signal` aborts (with a `ClaimLostError`) when the claim is taken over or when its deadline passes without a
 * successful extend (e.g. the database is partitioned away): pass it to every CA call, and call `check()` before
 * each one. Claims without a deadline (`file`, `none`: OS or in-process locks) never abort and need no timers.
 */
import { ClaimLostError } from "./errors.ts";
import type { ClaimStore } from "./port.ts";
import type { Claim } from "./types.ts";

/** Importable from here too (its home is errors.ts). */

export class LeaseKeeper {
  readonly #controller = new AbortController();
  readonly #storage: Pick<ClaimStore, "extend">;
  readonly #claim: Claim;
  readonly #leaseMs: number;
  #deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  #extendTimer: ReturnType<typeof setTimeout> | undefined;
  #extending: Promise<unknown> | undefined;
  #stopped = false;

  constructor(storage: Pick<ClaimStore, "extend">, claim: Claim, leaseMs: number) {
    this.#storage = storage;
    this.#claim = claim;
    this.#leaseMs = leaseMs;
    if (Number.isFinite(claim.deadline)) {
      this.#armDeadline();
      this.#scheduleExtend();
    }
  }

  /** Aborts when the claim is lost; its reason is a ClaimLostError. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Throws ClaimLostError when no CA call may start under the claim any more. */
  check(): void {
    if (this.#controller.signal.aborted) throw this.#controller.signal.reason;
    if (performance.now() >= this.#claim.deadline) {
      this.#lose(new ClaimLostError("The storage lease of this order ended before the next CA call", "deadline"));
      throw this.#controller.signal.reason;
    }
  }

  /** Stops the timers (the caller releases the claim). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#deadlineTimer);
    clearTimeout(this.#extendTimer);
    await this.#extending;
  }

  #lose(error: ClaimLostError): void {
    if (this.#controller.signal.aborted) return;
    clearTimeout(this.#deadlineTimer);
    clearTimeout(this.#extendTimer);
    this.#controller.abort(error);
  }

  #armDeadline(): void {
    clearTimeout(this.#deadlineTimer);
    const wait = Math.max(0, this.#claim.deadline - performance.now());
    this.#deadlineTimer = setTimeout(() => {
      if (performance.now() >= this.#claim.deadline) {
        this.#lose(
          new ClaimLostError("The storage lease of this order ended (no successful extend in time)", "deadline"),
        );
      } else {
        this.#armDeadline();
      }
    }, wait);
  }

  #scheduleExtend(): void {
    if (this.#stopped || this.#controller.signal.aborted) return;
    this.#extendTimer = setTimeout(() => {
      this.#extending = this.#extend().finally(() => (this.#extending = undefined));
    }, Math.max(50, this.#leaseMs / 3));
  }

  async #extend(): Promise<void> {
    try {
      const kept = await this.#storage.extend(this.#claim, this.#leaseMs);
      if (this.#stopped) return;
      if (!kept) {
        this.#lose(new ClaimLostError("Another instance took over this order's storage claim", "taken-over"));
        return;
      }
      this.#armDeadline();
    } catch {
      // Unreachable storage: try again; the deadline timer ends the claim if no extend succeeds in time.
    }
    this.#scheduleExtend();
  }
}
