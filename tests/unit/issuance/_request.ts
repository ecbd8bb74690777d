/** An issuance request for one name, from a real CSR (http-01 verification), as the /sign handler builds it. */
import type { AuthBlock } from "../../../src/config/types.ts";
import { createCsrParser } from "../../../src/csr/parser.ts";
import type { IssueRequest } from "../../../src/issuance/service.ts";
import { makeCsr } from "../../support/csr.ts";

export async function requestFor(name: string, storage: string | null): Promise<IssueRequest> {
  const csr = await makeCsr({ names: [name] });
  const parsed = await createCsrParser({ maxEntries: 10 }).parse(csr.csrPem);
  if (!parsed.ok) throw new Error(`The test CSR for ${name} did not parse`);
  return { csrDer: parsed.csr.der, csrSha256: parsed.csr.sha256, names: [name], verification: "http", storage };
}

/** A config's one auth block as background renewal sees it: `*.example.test` over `http`, cached in `storage`. */
export function localAuth(storage: string | null, name = "local"): AuthBlock[] {
  return [{
    name,
    ips: [],
    domains: ["*.example.test"],
    all: true,
    verification: "http",
    storage,
    source: { file: "acmems.ini", line: 1 },
  }];
}
