/**
 * The ACME front end on two acmems instances sharing a PostgreSQL storage (tables of migration 3), in front of the
 * real pebble 2.10: an account created on one instance signs orders on the other, an order finalized on one is polled
 * and downloaded on the other, ARI answers on both, and the same CSR on the other instance is a cache hit (one upstream
 * order in all).
 */
import { AcmeClient, generateKeyPair, splitPemChain } from "../../../src/acme/mod.ts";
import { assert, assertEquals } from "../../support/assert.ts";
import { ipAuth, testConfig } from "../../support/config.ts";
import { makeCsr } from "../../support/csr.ts";
import { freePort } from "../../support/ports.ts";
import { parsePrometheus } from "../../support/prometheus.ts";
import { startApp, startStack } from "../../support/stack.ts";

const EAB = { kid: "shared-1", hmacKey: "c2hhcmVkLWVhYi1rZXktZm9yLXR3by1pbnN0YW5jZXM" };

Deno.test("ACME front end on two instances sharing PostgreSQL", async () => {
  const stack = await startStack({ prefix: "acmems-acme-front-pg-", postgres: true });
  const clients: AcmeClient[] = [];
  try {
    const work = stack.work;
    const keyPair = await generateKeyPair("ec-p256");
    const instance = async (name: string, httpPort: number) => {
      const mgmtPort = await freePort();
      const app = await startApp({
        configFile: `${work}/${name}.ini`,
        config: testConfig({
          comment: `tests/integration/acme_server/instances_test.ts instance ${name}`,
          ca: stack.pebble,
          accountDir: `${work}/account`,
          mgmtPort,
          httpPort,
          storages: { pg: { type: "postgres", url: stack.pg!.url, "pool-size": 2 } },
          mgmt: { "default-storage": "pg" },
          auth: {
            hosts: ipAuth("*.pg.example.test", "127.0.0.1", {
              "acme-eab-kid": EAB.kid,
              "acme-eab-hmac-key": EAB.hmacKey,
            }),
          },
        }),
        keyPair,
        caCerts: [stack.pebble.caPem],
        name: `instance ${name}`,
      });
      stack.cleanup.add(() => app.stop());
      return { app, directoryUrl: `http://127.0.0.1:${mgmtPort}/acme/directory` };
    };
    const a = await instance("a", stack.pebble.httpPort);
    const b = await instance("b", await freePort());
    const accountKey = await generateKeyPair("ec-p256");
    const clientOf = (directoryUrl: string) => {
      const client = new AcmeClient({ directoryUrl, accountKey, pollIntervalMs: 100 });
      clients.push(client);
      return client;
    };
    const onA = clientOf(a.directoryUrl);
    const onB = clientOf(b.directoryUrl);
    const newOrders = () =>
      [a, b].reduce(
        (sum, i) =>
          sum +
          parsePrometheus(i.app.app.metrics.registry.render()).find("acmems_acme_requests_total", {
            endpoint: "newOrder",
          }).reduce((s, x) => s + x.value, 0),
        0,
      );

    const created = await onA.newAccount({ eab: EAB });
    assert(created.created);
    assertEquals(
      (await onB.findAccount()).url.replace(b.directoryUrl.replace("/acme/directory", ""), ""),
      created.url.replace(a.directoryUrl.replace("/acme/directory", ""), ""),
      "instance b knows the account",
    );

    const names = ["www.pg.example.test"];
    const csr = await makeCsr({ dir: work, names });
    let order = await onB.newOrder({ identifiers: names });
    order = await onB.finalize(order, csr.csrPem);
    const urlOnA = order.url.replace(new URL(b.directoryUrl).origin, new URL(a.directoryUrl).origin);
    const polled = await onA.pollOrder(urlOnA, { deadline: Date.now() + 60_000 });
    assertEquals(polled.status, "valid");
    const chain = await onA.downloadCertificate(polled.certificate!);
    assert(splitPemChain(chain.pem).length >= 2);
    assertEquals(newOrders(), 1);

    const windowA = await onA.renewalInfo(chain.pem);
    const windowB = await onB.renewalInfo(chain.pem);
    assertEquals(windowA.suggestedWindow.start.getTime(), windowB.suggestedWindow.start.getTime());

    let again = await onA.newOrder({ identifiers: names });
    again = await onA.finalize(again, csr.csrPem);
    again = await onA.pollOrder(again.url, { deadline: Date.now() + 60_000 });
    assertEquals((await onA.downloadCertificate(again.certificate!)).pem, chain.pem);
    assertEquals(newOrders(), 1, "the same CSR on the other instance: a cache hit");
  } finally {
    for (const client of clients) client.close();
    await stack.cleanup.run();
  }
});
