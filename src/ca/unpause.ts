/**
 * The unpause URL in a CA's problem detail: Let's Encrypt pauses an account–name pair after many failures in a row
 * and says where to lift the pause (`…/sfe/v1/unpause?jwt=…`). acmems passes it on (log, `issue-failed`, 429 body).
 *
 * Pure.
 */

/** The unpause URL in `detail`, if any. */
export function unpauseUrlOf(detail: string): string | undefined {
  const match = /https:\/\/[^\s"'<>]*unpause[^\s"'<>]*/i.exec(detail);
  return match?.[0].replace(/[.,;)]+$/, "");
}
