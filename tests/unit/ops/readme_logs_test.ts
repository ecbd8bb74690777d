/**
 * The README's "Logs" section shows real `sign` lines of both formats: each example is exactly what the logger
 * writes for its fields (so the described format is the format), and has the keys of the audit record, no more,
 * no fewer (so a new key shows up here).
 */
import { assert, assertEquals } from "../../support/assert.ts";
import { createLogger, type LogFields } from "../../../src/ops/log.ts";
import { signDecision } from "../../../src/http/audit.ts";

const README = await Deno.readTextFile(new URL("../../../README.md", import.meta.url));

function logsSection(): string {
  const start = README.indexOf("### Logs\n");
  assert(start >= 0, "README has a ### Logs section");
  return README.slice(start, README.indexOf("\n### ", start + 5));
}

/** The lines of the section's plain code blocks: [text lines, json lines]. */
function examples(): { text: string[]; json: string[] } {
  const lines = [...logsSection().matchAll(/```\n([\s\S]*?)```/g)].flatMap((m) => m[1].split("\n").filter(Boolean));
  return { text: lines.filter((l) => !l.startsWith("{")), json: lines.filter((l) => l.startsWith("{")) };
}

/** What the logger writes for `event` and `fields` at `level`, at `time`. */
function logged(format: "text" | "json", time: string, level: string, event: string, fields: LogFields): string {
  const lines: string[] = [];
  const log = createLogger({
    level: "debug",
    format,
    destination: "memory",
    now: () => new Date(time),
    write: (l) => lines.push(l),
  });
  const method = ({ info: "info", warning: "warn", error: "error", debug: "debug" } as const)[level.toLowerCase()];
  assert(method, `level ${level}`);
  log[method](event, fields);
  return lines[0];
}

const AUDIT_KEYS = Object.keys(signDecision("192.0.2.1", 200, 1, { outcome: "x" }));

Deno.test("README logs: the json examples are what the logger writes, with every key of the audit record", () => {
  const { json } = examples();
  assert(json.length >= 2, "a 200 and a 403 example");
  for (const line of json) {
    const { time, level, event, ...fields } = JSON.parse(line);
    assertEquals(event, "sign");
    assertEquals(Object.keys(fields), AUDIT_KEYS, "the audit record's keys, in its order");
    assertEquals(logged("json", time, level, event, fields), line);
  }
  assert(json.some((l) => JSON.parse(l).status === 403 && JSON.parse(l).reason), "a 403 with its reason");
});

Deno.test("README logs: the text examples are what the logger writes (TIME LEVEL EVENT key=value …)", () => {
  const { text } = examples();
  assert(text.length >= 2, "a 200 and a 403 example");
  for (const line of text) {
    const m = /^(\S+) (INFO|WARNING|ERROR|DEBUG) +(\S+) (.*)$/.exec(line);
    assert(m, `not TIME LEVEL EVENT …: ${line}`);
    const [, time, level, event, rest] = m;
    const fields: LogFields = {};
    for (const [, key, value] of rest.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S+)/g)) {
      fields[key] = value.startsWith('"') ? JSON.parse(value) : value;
    }
    assertEquals(Object.keys(fields), AUDIT_KEYS, "the audit record's keys, in its order");
    assertEquals(logged("text", time, level, event, fields), line);
  }
});
