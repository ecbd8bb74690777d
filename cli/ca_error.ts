/** The one-line description of an error from the CA or the network, for the operator's commands. */
import { isProblem } from "../src/acme/mod.ts";

/** One line for an error from the CA or the network, naming the CA and the fix where known. */
export function describeCaError(error: unknown, directoryUrl: string): string {
  if (isProblem(error)) {
    const p = error;
    const short = p.type.replace("urn:ietf:params:acme:error:", "");
    if (short === "externalAccountRequired") {
      return `The CA requires external account binding: pass --eab-kid and --eab-hmac-key-file (${p.detail ?? ""})`;
    }
    if (short === "unauthorized" && /external|eab|binding/i.test(p.detail ?? "")) {
      return `The CA rejected the external account binding: check --eab-kid and --eab-hmac-key-file (${p.detail})`;
    }
    return `The CA at ${directoryUrl} refused: ${short || "error"} (HTTP ${p.status ?? "?"}): ${
      p.detail ?? "no detail"
    }`;
  }
  const message = error instanceof Error ? error.message : String(error);
  return `Cannot talk to the CA at ${directoryUrl}: ${message}. Check [account] acme-server, ca-file and the network.`;
}
