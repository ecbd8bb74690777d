/** An issuance request for one name, from a real CSR (http-01 verification), as the /sign handler builds it. */
import { createCsrParser } from "../../../src/csr/intake.ts";
import type { IssueRequest } from "../../../src/issuance/service.ts";
import { makeCsr } from "../../support/csr.ts";

export async function requestFor(name: string, storage: string | null): Promise<IssueRequest> {
  const csr = await makeCsr({ names: [name] });
  const parsed = await createCsrParser({ maxEntries: 10 }).parse(csr.csrPem);
  if (!parsed.ok) throw new Error(`The test CSR for ${name} did not parse`);
  return { csrDer: parsed.csr.der, csrSha256: parsed.csr.sha256, names: [name], verification: "http", storage };
}
