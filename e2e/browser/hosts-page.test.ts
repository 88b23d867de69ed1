// Browser: sign up, open Add host and see the install command, then watch a real agent's host
// appear online and flip to offline in the table, with no page reload.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../support/browser.ts";
import { startWebServer, type WebServer } from "../support/web-server.ts";
import { agentBundlePath } from "../../scripts/build.ts";
import { repoRoot } from "../../scripts/paths.ts";

let server: WebServer;
let browser: Browser;
let page: Page;
let agent: ChildProcess | null = null;
const stateDir = mkdtempSync(join(tmpdir(), "berth-ui-agent-"));
const shots = join(repoRoot, "test-results");

before(async () => {
  // A short offline timeout keeps the test quick; the flip is the same code path as with the default 5 s.
  server = await startWebServer({ BERTH_OFFLINE_AFTER_MS: "3000" });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  mkdirSync(shots, { recursive: true });
});

after(async () => {
  if (agent && agent.exitCode === null) agent.kill("SIGKILL");
  await browser?.close();
  await server?.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

test("sign up, add a host, and watch its status change live", { timeout: 120_000 }, async () => {
  await page.goto(server.url);
  await page.waitForURL(/\/login/);
  await page.getByRole("link", { name: "Create an account" }).click();
  await page.waitForURL(/\/signup/);
  // Nobody can walk in: the install is claimed with the setup link the server printed.
  await page.getByTestId("invite-only").waitFor();
  await page.goto(await server.setupLink());
  await page.getByTestId("invitation").getByText("claims this Berth install").waitFor();
  await page.getByLabel("Name").fill("Ada");
  await page.getByLabel("Email").fill("ada@example.com");
  await page.getByLabel("Password").fill("correct-horse-battery");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.waitForURL(/\/hosts$/);
  await page.getByText("No hosts yet").waitFor();
  assert.match((await page.getByTestId("current-user").textContent()) ?? "", /ada@example.com\s*owner/);

  // Mark the document: if the page reloads, the marker is gone.
  await page.evaluate(() => ((window as unknown as { __berthMarker: number }).__berthMarker = 42));

  await page.getByRole("button", { name: "Add host" }).first().click();
  const dialog = page.getByRole("dialog", { name: "Add a host" });
  await dialog.getByRole("button", { name: "Create install command" }).click();
  const command = (await dialog.getByTestId("install-command").textContent()) ?? "";
  assert.match(
    command,
    new RegExp(`^curl -fsSL ${server.url}/install.sh \\| sudo sh -s -- --url ${server.url} --token BERTH-1-insecure-[a-f0-9]{48}$`),
  );
  await page.screenshot({ path: join(shots, "add-host.png") });
  const token = /--token (\S+)/.exec(command)![1]!;
  await dialog.getByRole("button", { name: "Close" }).click();
  // The new token is listed by its hint only; the secret never comes back.
  const tokenRow = page.getByTestId("join-token-row").first();
  await tokenRow.waitFor();
  assert.equal(await tokenRow.getAttribute("data-state"), "active");
  assert.equal(((await page.getByTestId("join-tokens").textContent()) ?? "").includes(token.slice(-40)), false);

  // The real agent joins with the token from the dialog.
  agent = spawn(
    process.execPath,
    [
      agentBundlePath,
      "join",
      "--url",
      server.url,
      "--token",
      token,
      "--state-dir",
      stateDir,
      "--name",
      "ui-host",
      "--docker-socket",
      join(stateDir, "docker.sock"),
    ],
    { stdio: "ignore" },
  );
  const row = page.locator('[data-testid="host-row"][data-host-name="ui-host"]');
  await row.getByTestId("host-status").and(page.locator('[data-status="online"]')).waitFor({ timeout: 20_000 });
  assert.match((await row.textContent()) ?? "", /Debian GNU\/Linux/);
  await page.screenshot({ path: join(shots, "hosts-online.png") });

  agent.kill("SIGKILL");
  await row.getByTestId("host-status").and(page.locator('[data-status="offline"]')).waitFor({ timeout: 20_000 });
  await page.screenshot({ path: join(shots, "hosts-offline.png") });
  assert.equal(await page.evaluate(() => (window as unknown as { __berthMarker?: number }).__berthMarker), 42, "no reload happened");
});

test("the host page shows facts, and renaming works", { timeout: 60_000 }, async () => {
  await page.goto(`${server.url}/hosts`);
  await page.getByRole("link", { name: "ui-host" }).click();
  await page.getByTestId("host-name").waitFor();
  assert.equal(await page.getByTestId("host-name").textContent(), "ui-host");
  await page.getByText("Kernel").waitFor();
  await page.getByRole("button", { name: "Rename" }).click();
  await page.getByLabel("Host name").fill("ui-host-renamed");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByTestId("host-name").filter({ hasText: "ui-host-renamed" }).waitFor();
  await page.screenshot({ path: join(shots, "host-detail.png") });
});

test("a bad sign-in shows a clear error and stays on the page", { timeout: 60_000 }, async () => {
  const ctx = await browser.newContext();
  const p = await ctx.newPage();
  await p.goto(`${server.url}/login`);
  await p.getByLabel("Email").fill("ada@example.com");
  await p.getByLabel("Password").fill("wrong-password");
  await p.getByRole("button", { name: "Sign in" }).click();
  await p.getByTestId("error").waitFor();
  assert.match((await p.getByTestId("error").textContent()) ?? "", /invalid email or password/i);
  assert.match(p.url(), /\/login/);
  await ctx.close();
});

test("revoking a join token from the list marks it revoked", { timeout: 60_000 }, async () => {
  await page.goto(`${server.url}/hosts`);
  await page.getByRole("button", { name: "Add host" }).first().click();
  const dialog = page.getByRole("dialog", { name: "Add a host" });
  await dialog.getByRole("button", { name: "Create install command" }).click();
  await dialog.getByTestId("install-command").waitFor();
  await dialog.getByRole("button", { name: "Close" }).click();
  const active = page.locator('[data-testid="join-token-row"][data-state="active"]');
  const before = await active.count();
  await active.first().getByRole("button", { name: "Revoke" }).click();
  await page.waitForFunction(
    (n) => document.querySelectorAll('[data-testid="join-token-row"][data-state="active"]').length === n - 1,
    before,
  );
  assert.ok((await page.locator('[data-testid="join-token-row"][data-state="revoked"]').count()) >= 1);
});
