/**
 * `[notify "name"]`: a webhook (url) or a program (command) told about failures and expiring certificates.
 * Pure apart from `ConfigEnvironment.resolvePath` for the program. Gives null when the section has errors.
 */
import type { IniSection } from "../ini.ts";
import type { ConfigEnvironment } from "../environment.ts";
import { collectOptions, type Diagnostics, firstIsType, readOption, sectionLabel } from "../diagnostics.ts";
import { NOTIFY_OPTIONS as N } from "../schema.ts";
import { didYouMean, truncate } from "../text.ts";
import type { NotifyConfig, NotifyEvent } from "../types.ts";
import { parseUrl } from "../values.ts";

const NOTIFY_EVENTS: NotifyEvent[] = ["issue-failed", "renewal-failed", "expiring", "revoked"];

export const buildNotify =
  (function buildNotify(section: IniSection, env: ConfigEnvironment, diag: Diagnostics): NotifyConfig | null {
    const type = firstIsType(section, diag, "webhook or exec");
    if (type === null) return null;
    const label = sectionLabel(section);
    const before = diag.errors.length;
    const o = collectOptions(section.entries, N, label, diag);
    if (type !== "webhook" && type !== "exec") {
      const hint = didYouMean(type, ["webhook", "exec"]);
      diag.error(
        section.entries[0].source,
        `${label}: unknown notify type "${truncate(type)}"${
          hint ? `: did you mean ${hint}?` : ""
        } (supported: webhook, exec)`,
      );
      return null;
    }
    const notifier: NotifyConfig = {
      name: section.name!,
      type,
      events: [],
      timeoutMs: 10_000,
      retries: 3,
      expiringDays: 7,
      source: section.source,
    };
    const url = o.one(N.url);
    const command = o.one(N.command);
    if (type === "webhook") {
      if (command) diag.error(command.source, `${label}: command is for type = exec; a webhook needs url =`);
      if (!url) diag.error(section.source, `${label} needs url = where the JSON event is POSTed`);
      else {
        const parsed = parseUrl(url.value);
        if ("error" in parsed) {
          // Never echo the value: its path or query may hold a token.
          diag.error(
            url.source,
            `${label} url is not an http:// or https:// URL (not shown: it may hold a token): ` +
              "write e.g. url = https://hooks.example.org/acmems",
          );
        } else notifier.url = parsed.value.href;
      }
    } else {
      if (url) diag.error(url.source, `${label}: url is for type = webhook; exec needs command =`);
      if (!command || command.value === "") diag.error(section.source, `${label} needs command = the program to run`);
      else {
        const argv = command.value.split(/\s+/);
        argv[0] = env.resolvePath(argv[0], command.source.file);
        notifier.command = argv;
      }
    }
    const events = o.all(N.events);
    if (events.length === 0) diag.error(section.source, `${label} needs events = (${NOTIFY_EVENTS.join(", ")})`);
    for (const entry of events) {
      for (const word of entry.value.split(/[\s,]+/).filter((w) => w !== "")) {
        if (!NOTIFY_EVENTS.includes(word as NotifyEvent)) {
          const hint = didYouMean(word, NOTIFY_EVENTS);
          diag.error(
            entry.source,
            `${label} events: unknown event "${truncate(word)}"${hint ? `: did you mean ${hint}?` : ""} ` +
              `(known: ${NOTIFY_EVENTS.join(", ")})`,
          );
        } else if (!notifier.events.includes(word as NotifyEvent)) notifier.events.push(word as NotifyEvent);
      }
    }
    readOption(o, N.timeout, notifier, label, diag);
    readOption(o, N.retries, notifier, label, diag);
    readOption(o, N.expiringDays, notifier, label, diag);
    return diag.errors.length === before ? notifier : null;
  }).bind(null);
