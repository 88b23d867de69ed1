// Browser, in the lab: the agent runs in a lab namespace with bridge networking on. The Networks
// tab creates a user network (a bad subnet first, with the agent's message), the run dialog puts
// two containers on it, one reaches the other by name, the published port answers from another
// lab address, the tab shows who uses the network and refuses to remove it while it is in use.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Page } from "playwright-core";
import { waitFor } from "@berth/test-support/wait";
import { startHostUi, type HostUi } from "../support/host-ui.ts";

const run = promisify(execFile);
let ui: HostUi;
let page: Page;

before(async () => {
  ui = await startHostUi("nets", { lab: true });
  page = ui.page;
});

after(() => ui?.stop());

async function runContainer(name: string, network: string, command: string, ports = ""): Promise<void> {
  await page.getByRole("link", { name: "Containers" }).click();
  await page.getByRole("button", { name: "Run container" }).click();
  const dialog = page.getByRole("dialog", { name: "Run a container" });
  await dialog.getByLabel("Name").fill(name);
  await dialog.getByLabel("Command").fill(command);
  await dialog.getByLabel("Network").fill(network);
  await dialog.getByLabel("Ports").fill(ports);
  await dialog.getByRole("button", { name: "Run" }).click();
  await dialog.waitFor({ state: "detached", timeout: 30_000 });
  await page.locator(`[data-testid="container-row"][data-name="${name}"][data-state="running"]`).waitFor({ timeout: 20_000 });
}

test("create a network, run containers on it, see who uses it, and remove it", { timeout: 180_000 }, async () => {
  await ui.signUpAndOpenHost("nets@example.com", "networks-tab-password");

  // busybox comes from the Images tab's pull, as a user would do it.
  await ui.pullFromImagesTab("busybox");

  // The predefined networks are there, the default bridge with the subnet the agent picked.
  await page.getByRole("link", { name: "Networks", exact: true }).click();
  const bridge = page.locator('[data-testid="network-row"][data-name="bridge"]');
  await bridge.waitFor({ timeout: 20_000 });
  assert.match((await bridge.textContent()) ?? "", /\d+\.\d+\.\d+\.0\/\d+/);
  for (const n of ["host", "none"]) await page.locator(`[data-testid="network-row"][data-name="${n}"]`).waitFor();

  await page.getByRole("button", { name: "Create network" }).click();
  const dialog = page.getByRole("dialog", { name: "Create a network" });
  await dialog.getByLabel("Network name").fill("appnet");
  await dialog.getByLabel("Subnet").fill("10.91.0.1/24");
  await dialog.getByRole("button", { name: "Create" }).click();
  await dialog.getByText("invalid subnet 10.91.0.1/24: it has host bits set (did you mean 10.91.0.0/24?)").waitFor();
  await dialog.getByLabel("Subnet").fill("10.91.0.0/24");
  await dialog.getByRole("button", { name: "Create" }).click();
  await dialog.waitFor({ state: "detached", timeout: 20_000 });
  const appnet = page.locator('[data-testid="network-row"][data-name="appnet"]');
  await appnet.waitFor();
  assert.match((await appnet.textContent()) ?? "", /10\.91\.0\.0\/24/);
  assert.equal((await appnet.getByTestId("network-containers").textContent())?.trim(), "none");

  await runContainer("api", "appnet", "sh -c 'mkdir /www && echo hello from api > /www/index.html && httpd -f -p 80 -h /www'", "8081:80");
  // The client finds api by name through the network's embedded DNS.
  await runContainer("client", "appnet", "sh -c 'until wget -qO- http://api/; do sleep 1; done; sleep 3600'");
  await page.locator('[data-testid="container-row"][data-name="client"]').getByRole("link", { name: "client" }).click();
  await waitFor(
    "the client's log shows api's page",
    async () => /hello from api/.test((await page.getByTestId("container-logs").textContent()) ?? ""),
    30_000,
  );

  // The published port answers on the lab host's address, from outside its namespace.
  const { stdout } = await run("curl", ["-s", "--max-time", "5", `http://${ui.lab!.hosts[0]!.address}:8081/`]);
  assert.equal(stdout, "hello from api\n");

  await page.goBack();
  await page.getByRole("link", { name: "Networks", exact: true }).click();
  const users = appnet.getByTestId("network-containers");
  await users.getByRole("link", { name: "api" }).waitFor({ timeout: 20_000 });
  await users.getByRole("link", { name: "client" }).waitFor();
  await page.screenshot({ path: join(process.cwd(), "test-results", "networks-tab.png") });

  // In use: the agent refuses with Docker's message, and the network stays.
  page.once("dialog", (d) => void d.accept());
  await appnet.getByRole("button", { name: "Remove" }).click();
  await page.getByText(/error while removing network: network appnet id \w+ has active endpoints/).waitFor({ timeout: 20_000 });

  await page.getByRole("link", { name: "Containers" }).click();
  for (const name of ["api", "client"]) {
    const row = page.locator(`[data-testid="container-row"][data-name="${name}"]`);
    await row.getByRole("button", { name: "Stop" }).click();
    await waitFor(`${name} stopped`, async () => (await row.getAttribute("data-state")) === "exited", 30_000);
    page.once("dialog", (d) => void d.accept());
    await row.getByRole("button", { name: "Remove" }).click();
    await waitFor(`${name} removed`, async () => (await row.count()) === 0, 15_000);
  }
  await page.getByRole("link", { name: "Networks", exact: true }).click();
  await waitFor("appnet unused", async () => (await appnet.getByTestId("network-containers").textContent())?.trim() === "none", 20_000);
  page.once("dialog", (d) => void d.accept());
  await appnet.getByRole("button", { name: "Remove" }).click();
  await waitFor("appnet removed", async () => (await appnet.count()) === 0, 20_000);
});
