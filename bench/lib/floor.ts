/**
 * Pebble's floor: the same ACME orders acmems makes, made directly with acmems' own client (`src/acme/mod.ts`)
 * and an in-process http-01 responder, with nothing else (no HTTP front, CSR checks, policy, cache, ARI lookup or
 * chain check). The calls are the issuer's (src/issuance/order.ts and src/challenges/resolver.ts): newOrder → authorizations →
 * present → respond → poll authorization → poll order → finalize → poll order → download.
 */
import { AcmeClient, generateKeyPair, retryAfterOf } from "../../src/acme/mod.ts";

export interface FloorIssuer extends AsyncDisposable {
  /** Issues one certificate for `names` with `csrPem`; resolves with the PEM chain. */
  issue(names: string[], csrPem: string): Promise<string>;
  close(): Promise<void>;
}

export async function startFloor(opts: {
  directoryUrl: string;
  caPem: string;
  /** Where pebble's VA connects for http-01 (127.0.0.1). */
  httpPort: number;
  profile: string;
  /** Poll pace (the client's defaults: 50 ms first, ×1.5 up to 3 s); equal values poll at a constant interval. */
  pollIntervalMs?: number;
  maxPollIntervalMs?: number;
}): Promise<FloorIssuer> {
  const answers = new Map<string, string>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: opts.httpPort, onListen: () => {} }, (request) => {
    const url = new URL(request.url);
    const token = url.pathname.slice("/.well-known/acme-challenge/".length);
    const host = (request.headers.get("host") ?? "").replace(/:\d+$/, "").toLowerCase();
    const answer = answers.get(`${host} ${token}`);
    return answer === undefined ? new Response("not found\n", { status: 404 }) : new Response(answer);
  });
  const client = new AcmeClient({
    directoryUrl: opts.directoryUrl,
    accountKey: await generateKeyPair("ec-p256"),
    caCerts: [opts.caPem],
    pollIntervalMs: opts.pollIntervalMs,
    maxPollIntervalMs: opts.maxPollIntervalMs,
  });
  try {
    await client.newAccount({ termsOfServiceAgreed: true });
  } catch (error) {
    client.close();
    await server.shutdown();
    throw error;
  }

  const issue = async (names: string[], csrPem: string): Promise<string> => {
    const deadline = Date.now() + 120_000;
    let order = await client.newOrder({ identifiers: names, profile: opts.profile });
    if (order.status === "pending") {
      const authorizations = await Promise.all(order.authorizations.map((url) => client.getAuthorization(url)));
      const presented: string[] = [];
      try {
        const toAnswer: { authz: string; challenge: string }[] = [];
        for (const authz of authorizations) {
          if (authz.status === "valid") continue;
          const challenge = authz.challenges.find((c) => c.type === "http-01");
          if (!challenge || typeof challenge.token !== "string") throw new Error("no http-01 challenge");
          const key = `${authz.identifier.value} ${challenge.token}`;
          answers.set(key, await client.keyAuthorization(challenge.token));
          presented.push(key);
          toAnswer.push({ authz: authz.url, challenge: challenge.url });
        }
        const replies = await Promise.all(toAnswer.map((a) => client.respondToChallenge(a.challenge)));
        const results = await Promise.all(
          toAnswer.map((a, i) =>
            client.pollAuthorization(a.authz, { deadline, firstPollAfter: retryAfterOf(replies[i]) })
          ),
        );
        const failed = results.find((r) => r.status !== "valid");
        if (failed) throw new Error(`authorization ${failed.identifier.value} is ${failed.status}`);
      } finally {
        for (const key of presented) answers.delete(key);
      }
      order = await client.pollOrder(order.url, { deadline, firstPollAfter: 0 });
    }
    if (order.status === "ready") {
      order = await client.finalize(order, csrPem);
      if (order.status !== "valid") {
        order = await client.pollOrder(order.url, { deadline, firstPollAfter: retryAfterOf(order) });
      }
    }
    if (order.status !== "valid" || !order.certificate) throw new Error(`order ended as ${order.status}`);
    return (await client.downloadCertificate(order.certificate)).pem;
  };

  let closed: Promise<void> | undefined;
  const close = () =>
    closed ??= (async () => {
      client.close();
      await server.shutdown();
    })();
  return { issue, close, [Symbol.asyncDispose]: close };
}
