// The control plane hands a team's registry credentials to the agent for a push: refused
// without them, accepted with them. A real agent process, a real basic-auth docker-registry.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestControlPlane, TRPCClientError, type TestControlPlane, type UserClient } from "@berth/test-support/control-plane";
import { seedBusybox, startRegistry, type TestRegistry } from "@berth/test-support/registry";
import { linkAgent, type TestAgent } from "@berth/test-support/agent";
import { RegistryClient } from "../../apps/agent/src/registry/client.ts";

let t: TestControlPlane;
let owner: UserClient;
let mirror: TestRegistry;
let privateReg: TestRegistry;
let agent: TestAgent | null = null;
let hostId = "";
const tmp = mkdtempSync(join(tmpdir(), "berth-creds-"));

before(async () => {
  mirror = await startRegistry();
  privateReg = await startRegistry({ auth: { kind: "htpasswd", username: "deploy", password: "push-secret-1" } });
  await seedBusybox(mirror, tmp);
  t = await startTestControlPlane();
  owner = await t.signUp("creds@example.com");
  ({ agent, hostId } = await linkAgent(t, owner, { stateDir: join(tmp, "agent"), name: "pusher", registryMirror: mirror.url }));
  await t.cp.gateway.command(hostId, "images.pull", { reference: "busybox", registry: null }, { timeoutMs: 60_000 });
});

after(async () => {
  await agent?.stop();
  await t?.close();
  await mirror?.stop();
  await privateReg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

test("a push to a private registry fails without the team's credentials and works with them", { timeout: 60_000 }, async () => {
  const target = `${privateReg.domain}/team/busybox:v1`;
  await owner.trpc.images.tag.mutate({ hostId, source: "busybox", target });
  const listed = await owner.trpc.images.list.query({ hostId });
  assert.ok(listed.some((i) => i.RepoTags.includes(target)));

  try {
    await owner.trpc.images.push.mutate({ hostId, name: target });
    assert.fail("pushed without credentials");
  } catch (e) {
    assert.ok(e instanceof TRPCClientError);
    assert.equal((e.data as { code: string }).code, "BAD_GATEWAY");
    assert.match(e.message, /unauthorized/);
  }

  await owner.trpc.registries.create.mutate({ address: privateReg.domain, username: "deploy", password: "push-secret-1" });
  const pushed = await owner.trpc.images.push.mutate({ hostId, name: target });
  assert.match(pushed.digest, /^sha256:[a-f0-9]{64}$/);
  // The registry really has it, behind its auth.
  const check = new RegistryClient({ settingsFor: () => ({ credentials: { username: "deploy", password: "push-secret-1" } }) });
  const resolved = await check.resolve({ domain: privateReg.domain, path: "team/busybox", tag: "v1", digest: null });
  assert.equal(resolved.manifestDigest, pushed.digest);
  const inspect = await owner.trpc.images.inspect.query({ hostId, name: target });
  assert.ok((inspect.RepoDigests as string[]).includes(`${privateReg.domain}/team/busybox@${pushed.digest}`));
});

test("image errors from the agent come back as clear API errors", async () => {
  try {
    await owner.trpc.images.inspect.query({ hostId, name: "nope:missing" });
    assert.fail("found a missing image");
  } catch (e) {
    assert.ok(e instanceof TRPCClientError);
    assert.equal((e.data as { code: string }).code, "NOT_FOUND");
    assert.equal(e.message, "No such image: nope:missing");
  }
});
