// The setup browser tests of one host's tabs share: a loopback registry seeded with busybox (the
// agent's Docker Hub mirror), the full control plane, a real agent joined to it, and Chromium.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { createDb } from "@berth/db";
import { createJoinToken, ensureDefaultTeam } from "@berth/core";
import { launchChromium } from "./browser.ts";
import { startWebServer, type WebServer } from "./web-server.ts";
import { seedBusybox, startRegistry, type TestRegistry } from "@berth/test-support/registry";
import { spawnAgent, type TestAgent } from "@berth/test-support/agent";
import { createLab, type Lab } from "@berth/test-support/lab";

export interface HostUi {
  server: WebServer;
  page: Page;
  /** With `lab`: the lab, whose first host runs the agent. */
  lab?: Lab;
  /** Claims the install with the setup link (the first account owns the default team) and opens the host's page. */
  signUpAndOpenHost(email: string, password: string): Promise<void>;
  /** Pulls an image through the Images tab's pull dialog, as a user would, and closes it. */
  pullFromImagesTab(reference: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `lab`: the agent runs in a lab namespace with bridge networking on; the registry and the control
 * plane listen on the lab's gateway address, where both the agent and the browser reach them.
 */
export async function startHostUi(hostName: string, opts: { lab?: boolean } = {}): Promise<HostUi> {
  const tmp = mkdtempSync(join(tmpdir(), `berth-ui-${hostName}-`));
  let lab: Lab | undefined;
  let reg: TestRegistry | undefined;
  let server: WebServer | undefined;
  let agent: TestAgent | undefined;
  let browser: Browser | undefined;
  const stop = async () => {
    await browser?.close();
    await agent?.stop();
    await server?.stop();
    await reg?.stop();
    await lab?.destroy();
    rmSync(tmp, { recursive: true, force: true });
  };
  try {
    if (opts.lab) lab = await createLab(1);
    reg = await startRegistry(lab ? { host: lab.gateway } : {});
    await seedBusybox(reg, tmp);
    // The lab's address is not loopback: plain HTTP there is asked for explicitly (a closed lab network).
    server = await startWebServer(lab ? { BERTH_INSECURE_HTTP: "1" } : {}, lab?.gateway);
    const db = createDb(server.database.url, { poolSize: 1 });
    const { token } = await createJoinToken(db, { teamId: (await ensureDefaultTeam(db)).id, fingerprint: null, maxUses: 1 });
    await db.$disconnect();
    agent = spawnAgent({
      url: server.url,
      token,
      stateDir: join(tmp, "agent"),
      name: hostName,
      registryMirror: reg.url,
      ...(lab ? { netns: lab.hosts[0]!.netns } : {}),
    });
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    return {
      server,
      page,
      ...(lab ? { lab } : {}),
      stop,
      pullFromImagesTab: async (reference) => {
        await page.getByRole("link", { name: "Images" }).click();
        await page.getByRole("button", { name: "Pull image" }).click();
        const pull = page.getByRole("dialog", { name: "Pull an image" });
        await pull.getByLabel("Image reference").fill(reference);
        await pull.getByRole("button", { name: "Pull" }).click();
        await pull.getByTestId("pull-done").waitFor({ timeout: 60_000 });
        await pull.getByRole("button", { name: "Close" }).click();
      },
      signUpAndOpenHost: async (email, password) => {
        await page.goto(await server!.setupLink());
        await page.getByTestId("invitation").getByText("owner").waitFor();
        await page.getByLabel("Email").fill(email);
        await page.getByLabel("Password").fill(password);
        await page.getByRole("button", { name: "Create account" }).click();
        await page.waitForURL(/\/hosts$/);
        const row = page.locator(`[data-testid="host-row"][data-host-name="${hostName}"]`);
        await row.locator('[data-status="online"]').waitFor({ timeout: 30_000 });
        await row.getByRole("link", { name: hostName }).click();
      },
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
