/**
 * `issue-failed`: a failed /sign issuance, classified (src/issuance/classify.ts) and told to the notifiers at most
 * once per names and kind every 10 minutes (while a CA is down every host's cron call fails the same way), with the
 * CAs tried and why each did not issue (src/ca/failover.ts).
 */
import { FailoverFailure } from "../ca/failover.ts";
import { unpauseUrlOf } from "../ca/unpause.ts";
import type { Clock } from "../lib/clock.ts";
import type { FailureClassifier } from "./classify.ts";
import type { IssueFailure } from "./failure.ts";
import type { IssueRequest, OnIssueEvent } from "./request.ts";

const FAILURE_NOTICE_MS = 600_000;

export class FailureNotices {
  /** When `issue-failed` was last sent, by kind and names. */
  readonly #sent = new Map<string, number>();

  constructor(
    private readonly classifier: FailureClassifier,
    private readonly now: Clock,
    private readonly onEvent?: OnIssueEvent,
  ) {}

  /** The failure of `error`, told to the notifiers unless the same was told within 10 minutes. */
  failed(error: unknown, request: IssueRequest, cas: readonly string[]): IssueFailure {
    const failure = this.classifier.classify(error, request.names);
    const now = this.now().getTime();
    const topic = `${failure.kind} ${request.names.join(",")}`;
    if (now - (this.#sent.get(topic) ?? -Infinity) < FAILURE_NOTICE_MS) return failure;
    if (this.#sent.size >= 10_000) this.#sent.clear();
    this.#sent.set(topic, now);
    const tried = failure instanceof FailoverFailure ? failure.tried : undefined;
    const unpauseUrl = unpauseUrlOf(failure.message);
    this.onEvent?.("issue-failed", {
      names: request.names,
      message: failure.message,
      kind: failure.kind,
      client: request.client,
      errorId: failure.errorId,
      // The CAs tried, in order (one CA: that one), and why each did not issue.
      cas: tried ? tried.map((t) => t.ca) : cas.slice(0, 1),
      ...(tried ? { caReasons: [...tried] } : {}),
      ...(unpauseUrl ? { unpauseUrl } : {}),
    });
    return failure;
  }
}
