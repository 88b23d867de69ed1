// Browser: a host's Images tab pulls `busybox` (through the agent's Docker Hub mirror on a
// loopback registry) with a live progress bar, lists it, tags it and removes the tag.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { createDb } from "@berth/db";
import { createJoinToken, ensureDefaultTeam } from "@berth/core";
import { launchChromium } from "../support/browser.ts";
import { startWebServer, type WebServer } from "../support/web-server.ts";
import { seedBusybox, startRegistry, type TestRegistry } from "../support/registry.ts";
import { waitFor } from "../support/wait.ts";
import { spawnAgent, type TestAgent } from "../support/agent.ts";

let server: WebServer;
let reg: TestRegistry;
let browser: Browser;
let page: Page;
let agent: TestAgent | null = null;
const tmp = mkdtempSync(join(tmpdir(), "berth-ui-images-"));

before(async () => {
  reg = await startRegistry();
  await seedBusybox(reg, tmp);
  server = await startWebServer();
  const db = createDb(server.database.url, { poolSize: 1 });
  const { token } = await createJoinToken(db, { teamId: (await ensureDefaultTeam(db)).id, fingerprint: null, maxUses: 1 });
  await db.$disconnect();
  agent = spawnAgent({ url: server.url, token, stateDir: join(tmp, "agent"), name: "imgs", registryMirror: reg.url });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
});

after(async () => {
  await agent?.stop();
  await browser?.close();
  await server?.stop();
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

test("pull busybox from the Images tab, see it listed, tag and untag it", { timeout: 120_000 }, async () => {
  await page.goto(`${server.url}/signup`);
  await page.getByLabel("Email").fill("img@example.com");
  await page.getByLabel("Password").fill("image-tab-password");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.waitForURL(/\/hosts$/);
  const row = page.locator('[data-testid="host-row"][data-host-name="imgs"]');
  await row.locator('[data-status="online"]').waitFor({ timeout: 30_000 });
  await row.getByRole("link", { name: "imgs" }).click();
  await page.getByRole("link", { name: "Images" }).click();
  await page.getByText("No images on this host yet").waitFor({ timeout: 20_000 });

  await page.getByRole("button", { name: "Pull image" }).click();
  const dialog = page.getByRole("dialog", { name: "Pull an image" });
  await dialog.getByLabel("Image reference").fill("busybox");
  await dialog.getByRole("button", { name: "Pull" }).click();
  await dialog.getByTestId("pull-done").waitFor({ timeout: 60_000 });
  assert.equal(await dialog.getByRole("progressbar").getAttribute("aria-valuenow"), "100");
  assert.match((await dialog.textContent()) ?? "", /Pull complete/);
  await page.screenshot({ path: join(process.cwd(), "test-results", "images-pull.png") });
  await dialog.getByRole("button", { name: "Close" }).click();

  const image = page.locator('[data-testid="image-row"][data-tag="busybox:latest"]');
  await image.waitFor();
  assert.match((await image.textContent()) ?? "", /busybox\s*latest\s*[a-f0-9]{12}/);

  page.once("dialog", (d) => void d.accept("busybox:mine"));
  await image.getByRole("button", { name: "Tag" }).click();
  const mine = page.locator('[data-testid="image-row"][data-tag="busybox:mine"]');
  await mine.waitFor();
  page.once("dialog", (d) => void d.accept());
  await mine.getByRole("button", { name: "Remove" }).click();
  await waitFor("tag removed", async () => (await mine.count()) === 0, 10_000);
  assert.equal(await image.count(), 1, "the other tag keeps the image");
});
