// One lab host linked to a control plane on the lab's gateway, as a server with bridge
// networking would be: the registry mirror there seeded with busybox, an owner signed up, the
// agent in the host's namespace. For API tests that need real containers on real networks.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, setGlobalDispatcher } from "undici";
import { spawnAgent, type TestAgent } from "@berth/test-support/agent";
import { startTestControlPlane, type TestControlPlane, type UserClient } from "@berth/test-support/control-plane";
import { createLab, type Lab } from "@berth/test-support/lab";
import { seedBusybox, startRegistry, type TestRegistry } from "@berth/test-support/registry";
import { waitFor } from "@berth/test-support/wait";
import { freeLoopbackPort } from "../../scripts/postgres.ts";

export interface LabHostSetup {
  t: TestControlPlane;
  owner: UserClient;
  teamId: string;
  hostId: string;
  /** The agent's state directory (its Docker socket is docker.sock in it). */
  stateDir: string;
  /** A scratch directory of the test's, removed by stop(). */
  tmp: string;
  /** The lab and its one host (to cut its cable, as `lab.cut(host)`). */
  lab: Lab;
  host: Lab["hosts"][number];
  stop(): Promise<void>;
}

export async function startLabHost(ownerEmail: string): Promise<LabHostSetup> {
  const tmp = mkdtempSync(join(tmpdir(), "berth-lab-host-"));
  let lab: Lab | undefined;
  let t: TestControlPlane | undefined;
  let mirror: TestRegistry | undefined;
  let agent: TestAgent | undefined;
  const stop = async () => {
    await agent?.stop();
    await t?.close();
    await mirror?.stop();
    await lab?.destroy();
    rmSync(tmp, { recursive: true, force: true });
  };
  try {
    lab = await createLab(1);
    t = await startTestControlPlane({ host: lab.gateway, port: await freeLoopbackPort() });
    // Off loopback the control plane serves TLS with its own certificate.
    setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(t.env.TLS_CERT_FILE!) } }));
    const owner = await t.signUp(ownerEmail);
    const teamId = (await owner.trpc.auth.teams.query())[0]!.id;
    mirror = await startRegistry({ host: lab.gateway });
    await seedBusybox(mirror, tmp);
    const { token } = await owner.trpc.joinTokens.create.mutate({ maxUses: 1 });
    const h = lab.hosts[0]!;
    const stateDir = join(tmp, "agent");
    agent = spawnAgent({ url: t.url, token, stateDir, name: h.name, netns: h.netns, registryMirror: mirror.url });
    const hostId = await waitFor(
      "the host linked",
      async () => (await owner.trpc.hosts.list.query()).find((x) => x.connected)?.id,
      60_000,
      250,
    );
    return { t, owner, teamId, hostId, stateDir, tmp, lab, host: h, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
