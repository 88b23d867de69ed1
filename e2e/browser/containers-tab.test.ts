// Browser: a host's Containers tab runs busybox from the run dialog, shows it running, opens its
// detail page with inspect and logs, stops it and removes it. Real agent, runc and conmon.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { waitFor } from "@berth/test-support/wait";
import type { Page } from "playwright-core";
import { startHostUi, type HostUi } from "../support/host-ui.ts";

let ui: HostUi;
let page: Page;

before(async () => {
  ui = await startHostUi("ctrs");
  page = ui.page;
});

after(() => ui?.stop());

test("run a container from the Containers tab, see its logs and inspect, stop and remove it", { timeout: 120_000 }, async () => {
  await ui.signUpAndOpenHost("ctr@example.com", "containers-tab-password");

  // busybox comes from the Images tab's pull, as a user would do it.
  await ui.pullFromImagesTab("busybox");

  await page.getByRole("link", { name: "Containers" }).click();
  await page.getByText("No containers on this host yet").waitFor({ timeout: 20_000 });
  await page.getByRole("button", { name: "Run container" }).click();
  const dialog = page.getByRole("dialog", { name: "Run a container" });
  await dialog.getByLabel("Name").fill("web1");
  await dialog.getByLabel("Command").fill("sh -c 'echo hello from berth; echo $GREETING; sleep 3600'");
  await dialog.getByLabel("Environment").fill("GREETING=hi there");
  await dialog.getByLabel("Memory limit").fill("64");
  await dialog.getByLabel("Restart policy").selectOption("unless-stopped");
  // A bad mount is caught in the dialog with Docker's message; the fixed one creates a volume.
  await dialog.getByLabel("Mounts").fill("webdata:/data:bogus");
  await dialog.getByRole("button", { name: "Run" }).click();
  await dialog.getByText("Mounts: invalid mode: bogus").waitFor();
  await dialog.getByLabel("Mounts").fill("webdata:/data");
  await dialog.getByLabel("Ports").fill("8081:http");
  await dialog.getByRole("button", { name: "Run" }).click();
  await dialog.getByText("Ports: Invalid containerPort: http").waitFor();
  await dialog.getByLabel("Ports").fill("");
  await dialog.getByRole("button", { name: "Run" }).click();
  await dialog.waitFor({ state: "detached", timeout: 30_000 });

  const row = page.locator('[data-testid="container-row"][data-name="web1"]');
  await row.waitFor();
  assert.equal(await row.getAttribute("data-state"), "running");
  assert.match((await row.textContent()) ?? "", /Up /);
  await row.getByRole("link", { name: "web1" }).click();
  await waitFor(
    "logs in the detail page",
    async () => /hello from berth[\s\S]*hi there/.test((await page.getByTestId("container-logs").textContent()) ?? ""),
    20_000,
  );
  await page.getByRole("tab", { name: "inspect" }).click();
  const inspect = (await page.getByTestId("container-inspect").textContent()) ?? "";
  assert.match(inspect, /"Name": "unless-stopped"/);
  assert.match(inspect, /"Memory": 67108864/);
  await page.screenshot({ path: join(process.cwd(), "test-results", "container-detail.png") });

  // The Volumes tab shows the new volume and who uses it.
  await page.getByRole("link", { name: "← Containers" }).click();
  await page.getByRole("link", { name: "Volumes" }).click();
  const vol = page.locator('[data-testid="volume-row"][data-name="webdata"]');
  await vol.waitFor({ timeout: 20_000 });
  await vol.getByTestId("volume-used-by").getByRole("link", { name: "web1" }).waitFor();

  await page.getByRole("link", { name: "Containers" }).click();
  await row.getByRole("button", { name: "Stop" }).click();
  await waitFor("stopped", async () => (await row.getAttribute("data-state")) === "exited", 30_000);
  page.once("dialog", (d) => void d.accept());
  await row.getByRole("button", { name: "Remove" }).click();
  await waitFor("removed", async () => (await row.count()) === 0, 15_000);

  // Unused now, the volume can go.
  await page.getByRole("link", { name: "Volumes" }).click();
  await vol.getByText("unused").waitFor({ timeout: 20_000 });
  page.once("dialog", (d) => void d.accept());
  await vol.getByRole("button", { name: "Remove" }).click();
  await waitFor("volume removed", async () => (await vol.count()) === 0, 15_000);
});
