// A control plane behind a self-signed certificate: join tokens carry its fingerprint, the
// installer pins its public key, and the agent pins the certificate for join and link. A
// different certificate at the same URL (a man in the middle) is refused before any secret is sent.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createJoinToken, ensureDefaultTeam } from "@berth/core";
import { installCommand } from "@berth/api";
import { parseJoinToken } from "@berth/protocol";
import { startTestControlPlane, type TestControlPlane } from "@berth/test-support/control-plane";
import { waitFor } from "@berth/test-support/wait";
import { agentBundlePath } from "../../../scripts/build.ts";
import { freeLoopbackPort } from "../../../scripts/postgres.ts";
import { loadTlsIdentity } from "../../web/src/server/tls.ts";

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "berth-tls-"));
let real: TestControlPlane;
let impostor: TestControlPlane;
const kill: Array<() => void> = [];

async function selfSigned(name: string): Promise<{ certFile: string; keyFile: string }> {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1",
    "-keyout",
    keyFile,
    "-out",
    certFile,
  ]);
  return { certFile, keyFile };
}

function agent(args: string[]) {
  const p = spawn(process.execPath, [agentBundlePath, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  kill.push(() => p.kill("SIGKILL"));
  let out = "";
  p.stdout!.on("data", (d) => (out += d));
  p.stderr!.on("data", (d) => (out += d));
  return { output: () => out, exited: new Promise<number | null>((r) => p.on("exit", (c) => r(c))), kill: () => p.kill("SIGTERM") };
}

let realTls: { certFile: string; keyFile: string };
before(async () => {
  realTls = await selfSigned("real");
  real = await startTestControlPlane({ tls: realTls });
  impostor = await startTestControlPlane({ tls: await selfSigned("impostor"), port: await freeLoopbackPort() });
});
after(async () => {
  for (const k of kill) k();
  await real?.close();
  await impostor?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function pinnedToken(cp: TestControlPlane): Promise<string> {
  const team = await ensureDefaultTeam(cp.cp.db);
  return (await createJoinToken(cp.cp.db, { teamId: team.id, fingerprint: cp.cp.fingerprint })).token;
}

test("tokens carry the certificate fingerprint; the install command pins the public key", async () => {
  const id = loadTlsIdentity(realTls.certFile, realTls.keyFile);
  const token = await pinnedToken(real);
  assert.equal(parseJoinToken(token).fingerprint, id.fingerprint);
  assert.match(real.url, /^https:/);
  assert.match(
    installCommand(real.url, token, id.spkiPin),
    new RegExp(`^curl -fsSLk --pinnedpubkey sha256//${id.spkiPin.replace(/[+/]/g, "\\$&")} https://`),
  );
});

test("install.sh over pinned TLS joins and the agent links over wss", { timeout: 60_000 }, async () => {
  const id = loadTlsIdentity(realTls.certFile, realTls.keyFile);
  const prefix = join(dir, "prefix");
  const p = spawn(
    "sh",
    [
      "-c",
      'curl -fsSLk --pinnedpubkey "$0" "$1/install.sh" | ' +
        'sh -s -- --url "$1" --pinnedpubkey "$0" --token "$2" --no-systemd --prefix "$3" --name tls-host',
      `sha256//${id.spkiPin}`,
      real.url,
      await pinnedToken(real),
      prefix,
    ],
    { stdio: "ignore", detached: true },
  );
  kill.push(() => {
    try {
      if (p.pid) process.kill(-p.pid, "SIGKILL");
    } catch {
      // already gone
    }
  });
  const host = await waitFor(
    "tls host online",
    async () => {
      const h = await real.cp.db.host.findFirst({ where: { name: "tls-host" } });
      return h?.status === "online" && real.cp.gateway.isConnected(h.id) ? h : null;
    },
    30_000,
  );
  assert.ok(existsSync(join(prefix, "opt/berth/berth-agent.js")));
  assert.deepEqual((await real.cp.gateway.command(host.id, "ping", {})).pong, true);
});

test("curl refuses the install script from a server with another key", async () => {
  const id = loadTlsIdentity(realTls.certFile, realTls.keyFile);
  await assert.rejects(
    run("curl", ["-fsSLk", "--pinnedpubkey", `sha256//${id.spkiPin}`, `${impostor.url}/install.sh`]),
    /exit code 90|pinned|Command failed/,
  );
});

test("the agent refuses a control plane whose certificate is not the pinned one, and sends no token", { timeout: 30_000 }, async () => {
  const token = await pinnedToken(real);
  const a = agent(["join", "--url", impostor.url, "--token", token, "--state-dir", join(dir, "mitm")]);
  assert.equal(await a.exited, 78);
  assert.match(a.output(), /does not match the pinned one/);
  assert.equal(await impostor.cp.db.auditLog.count({ where: { action: "host.join" } }), 0, "the impostor never saw a join request");
});

test("a pinned token with an http:// URL is refused with a clear message", async () => {
  const a = agent([
    "join",
    "--url",
    real.url.replace("https:", "http:"),
    "--token",
    await pinnedToken(real),
    "--state-dir",
    join(dir, "plain"),
  ]);
  assert.equal(await a.exited, 78);
  assert.match(a.output(), /the control plane URL must be https:\/\//);
});
