// Browser: roles and records. An owner runs a container and makes an API token in Settings;
// the token works with curl on the REST API; the audit log shows what was done, from where.
// A viewer sees no mutating control anywhere, and the API refuses the calls those controls make.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { promisify } from "node:util";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { DEBIAN_DOCKER } from "@berth/test-support/docker-cli";
import { startHostUi, type HostUi } from "../support/host-ui.ts";

const run = promisify(execFile);
let ui: HostUi;
let page: Page;

before(async () => {
  ui = await startHostUi("roles");
  page = ui.page;
});

after(() => ui?.stop());

test("an API token works with curl on REST, audit rows record it all, and a viewer can change nothing", { timeout: 180_000 }, async () => {
  const url = ui.server.url;
  await ui.signUpAndOpenHost("roles-owner@example.com", "roles-owner-password");
  await page.waitForURL(/\/hosts\/[^/]+$/);
  const hostId = /\/hosts\/([^/]+)/.exec(page.url())![1]!;
  await ui.pullFromImagesTab("busybox");
  await page.getByRole("link", { name: "Containers" }).click();
  await page.getByRole("button", { name: "Run container" }).click();
  const dialog = page.getByRole("dialog", { name: "Run a container" });
  await dialog.getByLabel("Name").fill("keeper");
  await dialog.getByLabel("Command").fill("sleep 3600");
  await dialog.getByRole("button", { name: "Run" }).click();
  await dialog.waitFor({ state: "detached", timeout: 30_000 });

  // Settings → API tokens: an operator token, shown once.
  await page.getByRole("link", { name: "Settings" }).click();
  await page.getByLabel("Name", { exact: true }).fill("ci deploys");
  await page.getByLabel("Token role").selectOption("operator");
  await page.getByRole("button", { name: "Create token" }).click();
  const token = ((await page.getByTestId("new-token-value").textContent()) ?? "").trim();
  assert.match(token, /^berth_[0-9a-f]{48}$/);
  await page
    .locator('[data-testid="token-row"][data-name="ci deploys"][data-state="active"]')
    .waitFor({ timeout: 10_000 })
    .catch(async (e) => {
      await page.screenshot({ path: join(process.cwd(), "test-results", "settings-failed.png"), fullPage: true });
      writeFileSync(join(process.cwd(), "test-results", "settings-failed.log"), ui.server.output());
      throw e;
    });

  // Settings → Docker CLI: the lines it gives point the stock docker CLI at the fleet endpoint.
  const setup = ((await page.getByTestId("docker-cli-setup").textContent()) ?? "").trim();
  const dockerHost = /docker context create berth --docker "host=(tcp:\/\/[^",]+)/.exec(setup)?.[1];
  assert.ok(dockerHost, `a docker host in the setup lines: ${setup}`);
  const cliConfig = mkdtempSync(join(tmpdir(), "berth-cli-"));
  writeFileSync(join(cliConfig, "config.json"), JSON.stringify({ HttpHeaders: { Authorization: `Bearer ${token}` } }));
  const psOut = await run(DEBIAN_DOCKER, ["ps", "--format", "{{.Names}}"], {
    env: { ...process.env, DOCKER_HOST: dockerHost, DOCKER_CONFIG: cliConfig },
  });
  assert.match(psOut.stdout, /^roles\/keeper$/m, "docker ps through the fleet endpoint names the container host/name");
  rmSync(cliConfig, { recursive: true, force: true });

  // curl, as a script would: read, then change, over REST.
  const curl = async (...args: string[]) => {
    const { stdout } = await run("curl", ["-sS", "-w", "\n%{http_code}", "-H", `Authorization: Bearer ${token}`, ...args]);
    const at = stdout.lastIndexOf("\n");
    return { status: Number(stdout.slice(at + 1)), body: stdout.slice(0, at) };
  };
  const hosts = await curl(`${url}/api/v1/hosts`);
  assert.equal(hosts.status, 200);
  assert.ok((JSON.parse(hosts.body) as Array<{ id: string; name: string }>).some((h) => h.id === hostId && h.name === "roles"));
  const containers = await curl(`${url}/api/v1/hosts/${hostId}/containers`);
  assert.equal(containers.status, 200);
  assert.ok((JSON.parse(containers.body) as Array<{ Names: string[] }>).some((c) => c.Names.includes("/keeper")));
  const labels = await curl(
    "-X",
    "PUT",
    "-H",
    "Content-Type: application/json",
    "-d",
    JSON.stringify({ labels: { tier: "edge" } }),
    `${url}/api/v1/hosts/${hostId}/labels`,
  );
  assert.equal(labels.status, 200, labels.body);
  const tooHigh = await curl("-X", "DELETE", `${url}/api/v1/hosts/${hostId}`);
  assert.equal(tooHigh.status, 403, "an operator token cannot remove hosts");

  // The audit log: the dashboard's run, the token's REST calls, each with its channel.
  await page.reload();
  const row = (action: string, channel: string, result = "ok") =>
    page.locator(`[data-testid="audit-row"][data-action="${action}"][data-result="${result}"]`).filter({ hasText: channel });
  await row("containers.run", "ui").first().waitFor({ timeout: 15_000 });
  await row("apiTokens.create", "ui").first().waitFor();
  await row("hosts.setLabels", "rest").first().waitFor();
  await row("hosts.remove", "rest", "error").first().waitFor();
  await page.getByLabel("Action starts with").fill("hosts.");
  await page.locator('[data-testid="audit-row"][data-action="containers.run"]').waitFor({ state: "detached" });
  await page.screenshot({ path: join(process.cwd(), "test-results", "settings-audit.png"), fullPage: true });

  // The docs page lists the routes the document describes.
  await page.getByRole("link", { name: "API" }).click();
  await page.locator('[data-testid="api-route"][data-route="PUT /hosts/{id}/labels"]').waitFor({ timeout: 15_000 });

  // Settings → Invitations: a viewer invitation, shown once, listed as pending.
  await page.getByRole("link", { name: "Settings" }).click();
  await page.getByLabel("Invite as").selectOption("viewer");
  await page.getByLabel("Note").fill("for the viewer");
  await page.getByRole("button", { name: "Create invitation" }).click();
  const invitation = ((await page.getByTestId("new-invitation-link").textContent()) ?? "").trim();
  assert.match(invitation, /\/signup\?invite=inv_[0-9a-f]{48}$/);
  await page.locator('[data-testid="invitation-row"][data-note="for the viewer"][data-state="pending"]').waitFor();
  // Settings → Container policy: operators may bind-mount under /srv/data, nothing else changes.
  await page.getByLabel("Bind mount prefixes").fill("/srv/data");
  await page.getByRole("button", { name: "Save policy" }).click();
  await page.getByTestId("policy-saved").waitFor();
  await page.reload();
  assert.equal(await page.getByLabel("Bind mount prefixes").inputValue(), "/srv/data");

  // A second user is a viewer: the same pages, no control that changes anything.
  const viewerCtx = await page
    .context()
    .browser()!
    .newContext({ viewport: { width: 1280, height: 800 } });
  const v = await viewerCtx.newPage();
  try {
    // Without an invitation the page says so and the server refuses.
    await v.goto(`${url}/signup`);
    await v.getByTestId("invite-only").waitFor();
    await v.getByLabel("Email").fill("walk-in@example.com");
    await v.getByLabel("Password").fill("walk-in-password");
    await v.getByRole("button", { name: "Create account" }).click();
    await v.getByText(/sign-up is by invitation only/).waitFor();
    await v.goto(invitation);
    await v.getByTestId("invitation").getByText("viewer").waitFor();
    await v.getByLabel("Email").fill("roles-viewer@example.com");
    await v.getByLabel("Password").fill("roles-viewer-password");
    await v.getByRole("button", { name: "Create account" }).click();
    await v.waitForURL(/\/hosts$/);
    await page.reload();
    await page.locator('[data-testid="invitation-row"][data-note="for the viewer"][data-state="used"]').waitFor();
    await row("policies.set", "ui").first().waitFor();
    await v.getByTestId("current-user").getByText("viewer").waitFor();
    // Settings holds only the Docker CLI setup for a viewer: no team settings, no tokens.
    await v.getByRole("link", { name: "Settings" }).click();
    await v.getByText("Team settings, API tokens and the audit log are for admins and owners.").waitFor();
    await v.getByTestId("docker-cli-setup").waitFor();
    assert.equal(await v.getByRole("button", { name: "Create token" }).count(), 0);
    await v.goto(`${url}/hosts`);
    assert.equal(await v.getByRole("button", { name: "Add host" }).count(), 0);
    const mutating =
      /^(Run container|Pull image|Create network|Create volume|Stop|Start|Restart|Remove|Rename|Revoke|Prune.*|Save labels|Edit labels)$/;
    for (const tab of ["", "/containers", "/images", "/networks", "/volumes"]) {
      await v.goto(`${url}/hosts/${hostId}${tab}`);
      await v.getByTestId("current-user").waitFor();
      await v.waitForLoadState("networkidle");
      const buttons = (await v.getByRole("button").allTextContents()).map((b) => b.trim());
      assert.deepEqual(
        buttons.filter((b) => mutating.test(b)),
        [],
        `no mutating buttons on ${tab || "overview"}: ${buttons.join(", ")}`,
      );
    }
    // The container page: logs and stats, but no terminal.
    await v.goto(`${url}/hosts/${hostId}/containers`);
    await v.locator('[data-testid="container-row"][data-name="keeper"]').getByRole("link", { name: "keeper" }).click();
    await v.getByRole("tab", { name: "stats" }).waitFor();
    assert.equal(await v.getByRole("tab", { name: "terminal" }).count(), 0);
    // What the hidden buttons would have sent is refused by the server.
    const refused = await v.evaluate(async (hostId) => {
      const res = await fetch("/api/trpc/containers.stop", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ json: { hostId, id: "keeper" } }),
      });
      return { status: res.status, text: await res.text() };
    }, hostId);
    assert.equal(refused.status, 403);
    assert.match(refused.text, /this needs the operator role/);
    const terminal = await v.evaluate(
      (hostId) =>
        new Promise<string>((resolve) => {
          const ws = new WebSocket(`${location.origin.replace(/^http/, "ws")}/api/streams/exec?hostId=${hostId}&id=keeper`);
          ws.onopen = () => resolve("opened");
          ws.onclose = () => resolve("refused");
        }),
      hostId,
    );
    assert.equal(terminal, "refused");
  } finally {
    await viewerCtx.close();
  }
});
