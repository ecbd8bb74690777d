/**
 * The client kit (clients/acmems-client.sh) writes its key and certificate files under umask 077, but runs the
 * `--reload` command with the caller's umask. The pending-reload path needs no server: an installed certificate
 * that is current (renew-after in the future) plus a `<cert>.reload-pending` marker makes the script run only the
 * reload command.
 */
import { assertEquals } from "../support/assert.ts";
import { run, runChecked } from "../support/process.ts";

const SCRIPT = new URL("../../clients/acmems-client.sh", import.meta.url).pathname;
const NAME = "www.example.test";

/** A host whose certificate (self-signed, our key, 30 days) is current and whose last --reload failed. */
async function currentHost(dir: string) {
  const key = `${dir}/host.key`;
  const cert = `${dir}/host.pem`;
  await runChecked("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key]);
  // The CSR the script itself would write (same subject and SAN), so it is not renewed.
  await runChecked("openssl", [
    ...["req", "-new", "-batch", "-key", key, "-subj", `/CN=${NAME}`],
    ...["-addext", `subjectAltName=DNS:${NAME}`, "-out", `${key}.csr`],
  ]);
  await runChecked("openssl", [
    ...["req", "-x509", "-batch", "-key", key, "-subj", `/CN=${NAME}`],
    ...["-addext", `subjectAltName=DNS:${NAME}`, "-days", "30", "-out", cert],
  ]);
  await Deno.writeTextFile(`${cert}.renew-after`, "2099-01-01T00:00:00Z\n");
  await Deno.writeTextFile(`${cert}.reload-pending`, "");
  return { key, cert };
}

Deno.test("client kit: the --reload command runs with the caller's umask, not the script's 077", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-client-umask-" });
  try {
    const { key, cert } = await currentHost(dir);
    const seen = `${dir}/reload-umask`;
    const made = `${dir}/made-by-reload`;
    const reload = `umask > '${seen}'; : > '${made}'`;
    for (const umask of ["022", "027"]) {
      await Deno.writeTextFile(`${cert}.reload-pending`, "");
      // The server is never asked (the certificate is current): a closed port is fine.
      const args = ["--server", "http://127.0.0.1:9", "--key", key, "--cert", cert, "--reload", reload, NAME];
      const r = await run("/bin/sh", ["-c", `umask ${umask} && exec "$0" "$@"`, SCRIPT, ...args]);
      assertEquals(r.code, 0, r.output);
      assertEquals((await Deno.readTextFile(seen)).trim(), `0${umask}`, "umask inside the --reload command");
      assertEquals((await Deno.stat(made)).mode! & 0o777, 0o666 & ~parseInt(umask, 8), "mode of a file it creates");
      assertEquals(await Deno.stat(`${cert}.reload-pending`).then(() => true, () => false), false, "reload done");
      await Deno.remove(made);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
