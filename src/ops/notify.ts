/**
 * Notifications to operators: `[notify "name"]` blocks with `type = webhook` (POST JSON) or `type = exec`
 * (the event JSON on stdin).
 *
 * Contract: `emit()` never blocks and never throws; delivery runs in the background with a timeout per attempt and
 * `retries` retries with backoff (1 s, 2 s, 4 s, …); a notifier that keeps failing is logged and counted, and never
 * delays issuance. `drain()` waits for deliveries in flight (shutdown, tests).
 *
 * `expiring` events go only to notifiers whose own `expiring-days` covers the event's `notAfter` (the issuer emits
 * them from the largest `expiring-days` of all notifiers on, at most once a day per certificate). `revoked` is sent
 * once per certificate revoked through `POST /revoke`.
 */
import type { NotifyConfig, NotifyEvent } from "../config/types.ts";
import type { Logger } from "./log.ts";
import type { AcmemsMetrics } from "./metrics.ts";

export interface NotificationPayload {
  event: NotifyEvent;
  /** ISO time of the event. */
  time: string;
  /** The certificate's names. */
  names: string[];
  /** One line saying what happened and what to do. */
  message: string;
  /** /sign status for issue-failed. */
  status?: number;
  notAfter?: string;
  client?: string;
  errorId?: string;
  /** `revoked`: the certificate's serial (hex) and the RFC 5280 reason name. */
  serial?: string;
  reason?: string;
  /** `issue-failed`: the CAs tried, in order (src/ca/failover.ts), and why each did not issue. */
  cas?: string[];
  caReasons?: { ca: string; reason: string; detail: string }[];
  /** issue-failed: the URL the CA gave to lift its pause of these names (Let's Encrypt), when it gave one. */
  unpauseUrl?: string;
  /** The acmems host. */
  host: string;
}

export interface NotifierOptions {
  log: Logger;
  metrics?: AcmemsMetrics;
  /** Replaces fetch (tests). */
  fetch?: typeof fetch;
  /** First retry delay (default 1 s, doubling). */
  retryBaseMs?: number;
  /** Replaces the clock (tests). */
  now?: () => Date;
}

/** Whether a notifier wants this event: subscribed to it, and for `expiring`, within its own `expiring-days`. */
export function wantsEvent(config: NotifyConfig, payload: NotificationPayload, now: Date): boolean {
  if (!config.events.includes(payload.event)) return false;
  if (payload.event !== "expiring" || payload.notAfter === undefined) return true;
  const notAfter = Date.parse(payload.notAfter);
  // An unreadable date cannot be judged: better one notice too many than a silent expiry.
  if (Number.isNaN(notAfter)) return true;
  return notAfter - now.getTime() <= config.expiringDays * 86_400_000;
}

export class Notifiers {
  readonly #configs: NotifyConfig[];
  readonly #opts: NotifierOptions;
  readonly #pending = new Set<Promise<void>>();

  constructor(configs: NotifyConfig[], opts: NotifierOptions) {
    this.#configs = configs;
    this.#opts = opts;
  }

  get size(): number {
    return this.#configs.length;
  }

  /** Sends the event to every notifier that wants it (see `wantsEvent`), in the background. */
  emit(event: NotifyEvent, details: Omit<NotificationPayload, "event" | "time" | "host">): void {
    const now = this.#opts.now?.() ?? new Date();
    const payload: NotificationPayload = { event, time: now.toISOString(), host: Deno.hostname(), ...details };
    for (const config of this.#configs) {
      if (!wantsEvent(config, payload, now)) continue;
      const delivery = this.#deliver(config, payload).finally(() => this.#pending.delete(delivery));
      this.#pending.add(delivery);
    }
  }

  async drain(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
  }

  async #deliver(config: NotifyConfig, payload: NotificationPayload): Promise<void> {
    const { log, metrics } = this.#opts;
    let lastError = "";
    for (let attempt = 0; attempt <= config.retries; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, (this.#opts.retryBaseMs ?? 1000) * 2 ** (attempt - 1)));
      try {
        if (config.type === "webhook") await this.#webhook(config, payload);
        else await this.#exec(config, payload);
        metrics?.notifications.inc({ notifier: config.name, result: "ok" });
        log.debug("notification sent", { notifier: config.name, kind: payload.event, attempt: attempt + 1 });
        return;
      } catch (error) {
        lastError = error instanceof Error ? error.message : String(error);
      }
    }
    metrics?.notifications.inc({ notifier: config.name, result: "failed" });
    log.error("notification failed", {
      notifier: config.name,
      kind: payload.event,
      attempts: config.retries + 1,
      error: lastError,
    });
  }

  async #webhook(config: NotifyConfig, payload: NotificationPayload): Promise<void> {
    const doFetch = this.#opts.fetch ?? fetch;
    const response = await doFetch(config.url!, {
      method: "POST",
      headers: { "Content-Type": "application/json", "User-Agent": "acmems" },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(config.timeoutMs),
    });
    await response.body?.cancel();
    if (!response.ok) throw new Error(`the webhook answered HTTP ${response.status}`);
  }

  async #exec(config: NotifyConfig, payload: NotificationPayload): Promise<void> {
    const [program, ...args] = config.command!;
    const child = new Deno.Command(program, { args, stdin: "piped", stdout: "null", stderr: "piped" }).spawn();
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }, config.timeoutMs);
    try {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(JSON.stringify(payload) + "\n")).catch(() => {});
      await writer.close().catch(() => {});
      const output = await child.output();
      if (!output.success) {
        const stderr = new TextDecoder().decode(output.stderr).trim().split("\n").slice(-3).join(" | ");
        throw new Error(`${program} exited with ${output.code}${stderr ? `: ${stderr}` : ""}`);
      }
    } finally {
      clearTimeout(timer);
    }
  }
}
