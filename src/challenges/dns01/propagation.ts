/**
 * The propagation wait: after an UPDATE, poll the server that took it until it serves the new TXT value.
 * Bounded by `timeoutMs`; pauses 50 ms doubling to 1 s between queries. Transient query failures are
 * retried within the bound, others thrown; running out of time throws DnsError kind `invisible`.
 */
import type { DnsServerAddress } from "../../config/types.ts";
import { sleep } from "../../lib/bytes.ts";
import { type DnsClient, DnsError } from "./dns/client.ts";
import { rcodeName } from "./dns/wire.ts";

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** Resolves once `server` answers TXT `name` with `value` among its values, within `timeoutMs`. */
export async function waitVisible(
  client: Pick<DnsClient, "query">,
  name: string,
  value: string,
  server: DnsServerAddress,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pause = 50;
  let last = "no answer";
  while (true) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    try {
      const { message } = await client.query(name, "TXT", { server, timeoutMs: remaining });
      const values = message.answers.filter((a) => a.type === "TXT" && a.name === name).map((a) => a.data);
      if (message.rcode === 0 && values.includes(value)) return;
      last = `${rcodeName(message.rcode)} with ${values.length} other value(s)`;
    } catch (error) {
      if (!(error instanceof DnsError) || !error.transient) throw error;
      last = error.message;
    }
    await sleep(Math.min(pause, Math.max(0, deadline - Date.now())));
    pause = Math.min(pause * 2, 1000);
  }
  throw new DnsError(
    `The TXT record ${name} was added at ${server.display} but was not served there within ` +
      `${formatMs(timeoutMs)} (last answer: ${last}): try again later`,
    "invisible",
  );
}
