// Lab: three network-namespace hosts join through `install.sh --no-systemd --prefix`, go offline
// when their agent is SIGKILLed, come back when it restarts, and a revoked host is refused. The
// control plane listens on a lab address and was given no certificate: off loopback it serves
// HTTPS with one of its own, join tokens carry its fingerprint, and the install command pins it.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, existsSync, statSync } from "node:fs";
import { Agent, setGlobalDispatcher } from "undici";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLab, killGroup, type Lab, type LabHost } from "@berth/test-support/lab";
import { startTestControlPlane, type TestControlPlane, type UserClient } from "@berth/test-support/control-plane";
import { freeLoopbackPort } from "../../scripts/postgres.ts";
import { waitFor } from "@berth/test-support/wait";

let lab: Lab;
let t: TestControlPlane;
let owner: UserClient;
const prefixes = new Map<string, string>();
const agents = new Map<string, ChildProcess>();
const logs = new Map<string, string>();

before(async () => {
  lab = await createLab(3);
  const port = await freeLoopbackPort();
  // Listen on the lab address only: the lab hosts and this test reach it there.
  t = await startTestControlPlane({ host: lab.gateway, port });
  assert.equal(t.url, `https://${lab.gateway}:${port}`, "off loopback, HTTPS by default");
  // This test's own calls trust exactly that certificate, as a browser told to would.
  setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(t.env.TLS_CERT_FILE!) } }));
  owner = await t.signUp("lab-owner@example.com");
});

after(async () => {
  for (const p of agents.values()) killGroup(p);
  await t?.close();
  await lab?.destroy();
  for (const d of prefixes.values()) rmSync(d, { recursive: true, force: true });
});

function capture(host: LabHost, p: ChildProcess): void {
  const append = (d: Buffer) => logs.set(host.name, ((logs.get(host.name) ?? "") + d.toString()).slice(-20_000));
  p.stdout?.on("data", append);
  p.stderr?.on("data", append);
  agents.set(host.name, p);
}

/** The one-line install the dashboard shows (pinned to the certificate), run inside the host's namespace as root. */
function install(host: LabHost, command: string, token: string): ChildProcess {
  const prefix = mkdtempSync(join(tmpdir(), `berth-${host.name}-`));
  prefixes.set(host.name, prefix);
  const pin = /--pinnedpubkey (sha256\/\/\S+)/.exec(command)![1]!;
  const p = host.spawn("sh", [
    "-c",
    'curl -fsSLk --pinnedpubkey "$4" "$0/install.sh" | ' +
      'sh -s -- --url "$0" --pinnedpubkey "$4" --token "$1" --no-systemd --prefix "$2" --name "$3"',
    t.url,
    token,
    prefix,
    host.name,
    pin,
  ]);
  capture(host, p);
  return p;
}

async function hostStatus(name: string): Promise<string | undefined> {
  const hosts = await owner.trpc.hosts.list.query();
  return hosts.find((h) => h.name === name)?.status;
}

test("three lab hosts join through install.sh and show online", { timeout: 120_000 }, async () => {
  const { token, command } = await owner.trpc.joinTokens.create.mutate({ maxUses: 3, expiresInSeconds: 600 });
  assert.equal(token.split("-")[2], t.cp.fingerprint, "the token carries the certificate's fingerprint");
  assert.match(
    command,
    new RegExp(
      `^curl -fsSLk --pinnedpubkey sha256//\\S+ ${t.url}/install.sh \\| ` +
        `sudo sh -s -- --url ${t.url} --pinnedpubkey sha256//\\S+ --token ${token}$`,
    ),
  );
  // A client that checks certificates the usual way is refused: nothing trusts it but the pin.
  const unpinned = await new Promise<number>((r) =>
    lab.hosts[0]!.spawn("curl", ["-fsS", `${t.url}/healthz`]).on("exit", (c) => r(c ?? -1)),
  );
  assert.equal(unpinned, 60, "curl: peer certificate cannot be authenticated");
  for (const h of lab.hosts) install(h, command, token);
  for (const h of lab.hosts) {
    await waitFor(`${h.name} online (log: ${logs.get(h.name) ?? ""})`, async () => (await hostStatus(h.name)) === "online", 60_000, 250);
  }
  const hosts = await owner.trpc.hosts.list.query();
  for (const h of lab.hosts) {
    const row = hosts.find((x) => x.name === h.name)!;
    // the control plane saw each agent come from its own lab address
    assert.equal(row.remoteAddr, h.address);
    const facts = (await owner.trpc.hosts.get.query({ id: row.id })).facts;
    assert.ok(
      facts?.addresses.some((a) => a.address === h.address),
      "facts list the host's lab address",
    );
    const prefix = prefixes.get(h.name)!;
    assert.ok(existsSync(join(prefix, "opt/berth/berth-agent.js")));
    assert.equal(statSync(join(prefix, "var/lib/berth/credential.json")).mode & 0o777, 0o600);
  }
  // the token's three uses are spent
  const fourth = await fetch(`${t.url}/agent/join`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token, name: "h4", agentVersion: "x", facts: (await owner.trpc.hosts.get.query({ id: hosts[0]!.id })).facts }),
  });
  assert.equal(fourth.status, 401);
});

test("a SIGKILLed agent shows offline within 20 s, and online again after a restart", { timeout: 90_000 }, async () => {
  const h = lab.hosts[0]!;
  killGroup(agents.get(h.name)!);
  const killedAt = Date.now();
  await waitFor(`${h.name} offline`, async () => (await hostStatus(h.name)) === "offline", 20_000, 250);
  assert.ok(Date.now() - killedAt <= 20_000);
  for (const other of lab.hosts.slice(1)) assert.equal(await hostStatus(other.name), "online");

  const prefix = prefixes.get(h.name)!;
  capture(
    h,
    h.spawn("node", [
      join(prefix, "opt/berth/berth-agent.js"),
      "run",
      "--state-dir",
      join(prefix, "var/lib/berth"),
      "--docker-socket",
      join(prefix, "run/berth/docker.sock"),
    ]),
  );
  await waitFor(`${h.name} online again`, async () => (await hostStatus(h.name)) === "online", 20_000, 250);
});

test("a revoked host is disconnected and refused on every reconnect", { timeout: 60_000 }, async () => {
  const h = lab.hosts[2]!;
  const row = (await owner.trpc.hosts.list.query()).find((x) => x.name === h.name)!;
  const agent = agents.get(h.name)!;
  const exited = new Promise<number | null>((r) => (agent.exitCode !== null ? r(agent.exitCode) : agent.on("exit", (c) => r(c))));
  await owner.trpc.hosts.revokeCredential.mutate({ id: row.id });
  // install.sh exec'd the agent, so the spawned process is the agent itself: 78 = refused for good.
  assert.equal(await exited, 78);
  assert.equal(await hostStatus(h.name), "offline");

  const prefix = prefixes.get(h.name)!;
  const retry = h.spawn("node", [
    join(prefix, "opt/berth/berth-agent.js"),
    "run",
    "--state-dir",
    join(prefix, "var/lib/berth"),
    "--docker-socket",
    join(prefix, "run/berth/docker.sock"),
  ]);
  capture(h, retry);
  const code = await new Promise<number | null>((r) => retry.on("exit", (c) => r(c)));
  assert.equal(code, 78);
  assert.match(logs.get(h.name) ?? "", /refused this host's credential/);
  assert.equal(await hostStatus(h.name), "offline");
});
