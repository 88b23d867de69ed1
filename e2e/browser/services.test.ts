// Browser: create a service from the Services page, watch its tasks come up on the host, scale
// it, update it (a start-first rolling update), roll it back, drain and reactivate the host, and
// remove it. Real agent, runc and conmon; the reconciler in the control plane.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { createDb } from "@berth/db";
import { startHostUi, type HostUi } from "../support/host-ui.ts";

let ui: HostUi;
let page: Page;

before(async () => {
  ui = await startHostUi("svchost");
  page = ui.page;
});

after(() => ui?.stop());

async function waitForCount(locator: ReturnType<Page["locator"]>, n: number): Promise<void> {
  const until = Date.now() + 30_000;
  while ((await locator.count()) < n) {
    if (Date.now() > until) assert.fail(`expected ${n} of ${String(locator)}, saw ${await locator.count()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function running(text: string): Promise<void> {
  await page.getByTestId("running").getByText(text).waitFor({ timeout: 60_000 });
}

test("create, watch, scale, update and roll back a service; drain its host", { timeout: 240_000 }, async () => {
  await ui.signUpAndOpenHost("svc@example.com", "services-page-password");
  await page.getByRole("link", { name: "Services" }).click();
  await page.getByText("No services yet").waitFor();
  await page.getByRole("button", { name: "Create service" }).click();
  const dialog = page.getByRole("dialog", { name: "Create a service" });
  await dialog.getByLabel("Name").fill("web");
  await dialog.getByLabel("Arguments").fill('sh -c "echo task up; exec sleep 3600"');
  await dialog.getByLabel("Replicas").fill("2");
  await dialog.getByLabel("Constraints").fill("node.colour==red");
  await dialog.getByRole("button", { name: "Create" }).click();
  // The server's message names the field.
  await dialog.getByText(/task\.placement\.constraints\.0: .*unknown key node\.colour/).waitFor();
  await dialog.getByLabel("Constraints").fill("node.hostname==svchost");
  await dialog.getByLabel("Update parallelism").fill("0");
  await dialog.getByLabel("Update order").selectOption("start-first");
  // The JSON view shows the whole spec the form made.
  await dialog.getByRole("button", { name: "Edit as JSON" }).click();
  assert.match(await dialog.getByLabel("Spec (JSON)").inputValue(), /"order": "start-first"/);
  await dialog.getByRole("button", { name: "Create" }).click();
  await page.waitForURL(/\/services\/[a-z0-9]+$/);

  await running("2 / 2");
  const hostTasks = page.locator('[data-testid="host-tasks"][data-host="svchost"]');
  assert.equal(await hostTasks.locator('[data-testid="task-state"][data-state="running"]').count(), 2);

  // Charts (uPlot) of running against desired; the merged log, each line tagged with its task and host.
  await page.getByTestId("service-chart-tasks-now").getByText("2 running of 2").waitFor({ timeout: 15_000 });
  assert.equal(await page.getByTestId("service-chart-tasks").locator("canvas").count(), 1);
  const logs = page.getByTestId("service-logs");
  await logs.getByTestId("log-line").filter({ hasText: "task up" }).first().waitFor({ timeout: 30_000 });
  await waitForCount(logs.getByTestId("log-line").filter({ hasText: /@svchost task up/ }), 2);

  await page.getByLabel("Replicas").fill("3");
  await page.getByRole("button", { name: "Scale" }).click();
  await running("3 / 3");
  // The third task's start shows in the service's events, and its first line in the merged log.
  await page.getByTestId("events-feed").locator('[data-testid="event-row"][data-action="start"]').first().waitFor({ timeout: 15_000 });
  await waitForCount(logs.getByTestId("log-line").filter({ hasText: /@svchost task up/ }), 3);

  await page.getByLabel("New image").fill("busybox:latest");
  await page.getByRole("button", { name: "Update" }).click();
  await page.locator('[data-testid="update-state"][data-state="completed"]').waitFor({ timeout: 90_000 });
  await running("3 / 3");
  assert.match((await page.locator("h1 + p").textContent()) ?? "", /busybox:latest/);

  await page.getByRole("button", { name: "Roll back" }).click();
  await page.locator('[data-testid="update-state"][data-state="rollback_completed"]').waitFor({ timeout: 90_000 });
  await running("3 / 3");
  assert.match((await page.locator("h1 + p").textContent()) ?? "", /busybox ·/);
  // The slot history keeps the replaced tasks.
  assert.ok((await page.locator('[data-testid="history-row"][data-state="shutdown"]').count()) >= 3);

  // The list page shows it; removing it leaves nothing.
  await page.getByRole("link", { name: "Services" }).click();
  const row = page.locator('[data-testid="service-row"][data-name="web"]');
  await row.getByTestId("replicas").getByText("3 / 3").waitFor();
  await row.getByRole("link", { name: "web" }).click();
  page.once("dialog", (d) => void d.accept());
  await page.getByRole("button", { name: "Remove" }).click();
  await page.waitForURL(/\/services$/);
  await page.getByText("No services yet").waitFor({ timeout: 30_000 });

  // The host page has the availability control.
  await page.getByRole("link", { name: "Hosts" }).click();
  await page.getByRole("link", { name: "svchost" }).click();
  await page.getByLabel("Availability").selectOption("drain");
  await page.waitForFunction(
    () => (document.querySelector('select[aria-label="Availability"]') as HTMLSelectElement | null)?.value === "drain",
  );
  await page.getByLabel("Availability").selectOption("active");
});

test("overlay networks: create one on the Networks page, see its errors and endpoints, remove it", { timeout: 60_000 }, async () => {
  await page.getByRole("link", { name: "Overlay networks" }).click();
  await page.getByText("No overlay networks yet").waitFor();
  const form = page.locator("form").filter({ has: page.getByRole("button", { name: "Create network" }) });
  await form.getByLabel("Name").fill("appnet");
  await form.getByLabel("Subnet (optional)").fill("10.77.0.0/24");
  await form.getByRole("button", { name: "Create network" }).click();
  const row = page.getByTestId("overlay-row").filter({ hasText: "appnet" });
  await row.getByText("10.77.0.0/24 via 10.77.0.1").waitFor();
  assert.match((await row.textContent()) ?? "", /attachable/);
  // The control plane's refusal, as it wrote it: the clashing network is named.
  await form.getByLabel("Name").fill("other");
  await form.getByLabel("Subnet (optional)").fill("10.77.0.128/25");
  await form.getByRole("button", { name: "Create network" }).click();
  await page.getByText("subnet 10.77.0.128/25 overlaps network appnet (10.77.0.0/24)").waitFor();
  // An encrypted one, from the same form.
  await form.getByLabel("Name").fill("sealed");
  await form.getByLabel("Subnet (optional)").fill("");
  await form.getByLabel("Encrypted (WireGuard between hosts)").check();
  await form.getByRole("button", { name: "Create network" }).click();
  const sealed = page.getByTestId("overlay-row").filter({ hasText: "sealed" });
  await sealed.getByText("encrypted").waitFor();
  // A host's report that it failed to program appnet (the agent's overlay.status, as the lab test
  // sends it for real) shows on the row and in the network's details.
  const db = createDb(ui.server.database.url, { poolSize: 1 });
  try {
    const host = await db.host.findFirstOrThrow({ where: { name: "svchost" } });
    const net = await db.overlayNetwork.findFirstOrThrow({ where: { name: "appnet" } });
    await db.overlayHostError.create({
      data: { networkId: net.id, hostId: host.id, error: "bridge fdb show dev vx-test: Cannot find device" },
    });
  } finally {
    await db.$disconnect();
  }
  await page.reload();
  await row.getByTestId("overlay-failing").getByText("1 host failing").waitFor();
  await row.getByRole("button", { name: "appnet" }).click();
  await page.getByTestId("overlay-host-errors").getByText("Cannot find device").waitFor();
  await page.getByText("No container is on this network.").waitFor();
  for (const name of ["appnet", "sealed"]) {
    page.once("dialog", (d) => void d.accept());
    await page.getByTestId("overlay-row").filter({ hasText: name }).getByRole("button", { name: "Remove" }).click();
  }
  await page.getByText("No overlay networks yet").waitFor();
});

test("secrets and configs: add them on the Secrets page, give them to a service from its form, and its task reads them", {
  timeout: 120_000,
}, async () => {
  await page.getByRole("link", { name: "Secrets" }).click();
  await page.getByText("No secrets yet.").waitFor();
  const form = page.locator("form").filter({ has: page.getByRole("button", { name: /^Add (secret|config)$/ }) });
  const value = `ui-secret-${Math.random().toString(36).slice(2, 10)}`;
  await form.getByLabel("Name").fill("api_key");
  await form.getByLabel("Value").fill(value);
  await form.getByRole("button", { name: "Add secret" }).click();
  await page.getByTestId("secret-row").filter({ hasText: "api_key" }).waitFor();
  assert.ok(!(await page.content()).includes(value), "a secret's value is not shown once added");
  await form.getByLabel("Kind").selectOption("config");
  await form.getByLabel("Name").fill("site_conf");
  await form.getByLabel("Value").fill("greeting=hello");
  await form.getByRole("button", { name: "Add config" }).click();
  const config = page.getByTestId("config-row").filter({ hasText: "site_conf" });
  await config.getByRole("button", { name: "Show" }).click();
  await config.getByTestId("config-data").getByText("greeting=hello").waitFor();

  await page.getByRole("link", { name: "Services" }).click();
  await page.getByRole("button", { name: "Create service" }).click();
  const dialog = page.getByRole("dialog", { name: "Create a service" });
  await dialog.getByLabel("Name").fill("reader");
  await dialog.getByLabel("Arguments").fill('sh -c "echo got $(cat /run/secrets/api_key) $(cat /site_conf); exec sleep 3600"');
  await dialog.getByRole("group", { name: "Secrets" }).getByLabel("api_key").check();
  await dialog.getByRole("group", { name: "Configs" }).getByLabel("site_conf").check();
  await dialog.getByRole("button", { name: "Create" }).click();
  await page.waitForURL(/\/services\/[a-z0-9]+$/);
  await running("1 / 1");
  await page
    .getByTestId("service-logs")
    .getByTestId("log-line")
    .filter({ hasText: `got ${value} greeting=hello` })
    .waitFor({ timeout: 30_000 });

  // In use, the secret stays; with the service gone it can be removed.
  await page.getByRole("link", { name: "Secrets" }).click();
  page.once("dialog", (d) => void d.accept());
  await page.getByTestId("secret-row").filter({ hasText: "api_key" }).getByRole("button", { name: "Remove" }).click();
  await page.getByText("secret 'api_key' is in use by the following service: reader").waitFor();
});
