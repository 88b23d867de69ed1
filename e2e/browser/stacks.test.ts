// Browser: write a stack of two services in the editor (a web server, and a client that fetches it
// by service name over the stack's overlay network), see the editor check it as it is typed,
// deploy it to the fleet and see both run and the client get the page; change one service's image
// and redeploy: only that service's tasks change; roll back to the first deploy; set an env value
// that one service uses: only its task is recreated; a single-host stack kept in git. Real agent in a
// lab namespace, runc, overlay networking and the reconciler.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { createDb, type Db } from "@berth/db";
import { startGitServer } from "@berth/test-support/git-server";
import { startHostUi, type HostUi } from "../support/host-ui.ts";

let ui: HostUi;
let page: Page;
let db: Db;

before(async () => {
  ui = await startHostUi("stackhost", { lab: true });
  page = ui.page;
  db = createDb(ui.server.database.url, { poolSize: 1 });
});

after(async () => {
  await db?.$disconnect();
  await ui?.stop();
});

const compose = (webImage: string) => `services:
  web:
    image: ${webImage}
    command: ["sh", "-c", "mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 80 -h /www"]
    environment:
      GREETING: \${GREETING:-hi}
  client:
    image: busybox
    command: ["sh", "-c", "until wget -qO- http://web/; do sleep 1; done; exec sleep 3600"]
`;

/** The running tasks' ids of a stack's service, from the control plane's records. */
async function runningTasks(service: string): Promise<string[]> {
  const s = await db.service.findFirstOrThrow({ where: { name: service } });
  const tasks = await db.task.findMany({ where: { serviceId: s.id, desiredState: "running", state: "running" }, orderBy: { id: "asc" } });
  return tasks.map((t) => t.id);
}

async function replicas(name: string, text: string): Promise<void> {
  await page
    .locator(`[data-testid="stack-service"][data-name="${name}"]`)
    .getByTestId("replicas")
    .getByText(text)
    .waitFor({ timeout: 90_000 });
}

test("write, deploy, edit one image and roll back a fleet stack from the dashboard", { timeout: 300_000 }, async () => {
  await ui.signUpAndOpenHost("stacks@example.com", "stacks-page-password");
  await page.getByRole("link", { name: "Stacks" }).click();
  await page.getByText("No stacks yet").waitFor();
  await page.getByRole("button", { name: "Create stack" }).click();
  const dialog = page.getByRole("dialog", { name: "Create a stack" });
  await dialog.getByLabel("Stack name").fill("shop");

  // The editor checks as it is typed, with the server's reader: the unknown key is named at its line.
  await dialog.getByLabel("Compose file").fill(`${compose("busybox")}    colour: blue\n`);
  await dialog
    .getByTestId("compose-problems")
    .getByText(/compose\.yaml:10:\d+: .*colour/)
    .waitFor();
  await dialog.getByLabel("Compose file").fill(compose("busybox"));
  await dialog.getByTestId("compose-valid").waitFor();
  await dialog.getByRole("button", { name: "Create and deploy" }).click();
  await page.waitForURL(/\/stacks\/[a-z0-9]+$/);

  await replicas("shop_web", "1 / 1");
  await replicas("shop_client", "1 / 1");
  // The stack's merged log: the client's line, tagged with its service.
  await page
    .getByTestId("stack-logs")
    .getByTestId("log-line")
    .filter({ hasText: "hello-from-web" })
    .filter({ hasText: "shop_client.1@" })
    .first()
    .waitFor({ timeout: 60_000 });
  // The client reached the web service by its name, across the stack's overlay network.
  const client = await db.service.findFirstOrThrow({ where: { name: "shop_client" } });
  await page.goto(`${ui.server.url}/services/${client.id}`);
  await page.getByTestId("service-logs").getByTestId("log-line").filter({ hasText: "hello-from-web" }).first().waitFor({ timeout: 60_000 });
  await page.goBack();

  const webBefore = await runningTasks("shop_web");
  const clientBefore = await runningTasks("shop_client");
  assert.equal(webBefore.length, 1);

  // One image changes: only that service's tasks are replaced.
  await page.getByLabel("Compose file").fill(compose("busybox:latest"));
  await page.getByTestId("compose-valid").waitFor();
  await page.getByRole("button", { name: "Save and deploy" }).click();
  await page
    .locator('[data-testid="deploy-row"][data-number="2"]')
    .getByTestId("deploy-summary")
    .getByText("updated shop_web")
    .waitFor({ timeout: 30_000 });
  await page.locator('[data-testid="stack-service"][data-name="shop_web"]').getByTestId("image").getByText("busybox:latest").waitFor();
  const until = Date.now() + 90_000;
  while ((await runningTasks("shop_web")).some((t) => webBefore.includes(t)) || (await runningTasks("shop_web")).length !== 1) {
    if (Date.now() > until) assert.fail("shop_web's task was not replaced");
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.deepEqual(await runningTasks("shop_client"), clientBefore, "the client's task was not touched");

  // A redeploy of the same source changes nothing.
  await page.getByRole("button", { name: "Redeploy" }).click();
  await page
    .locator('[data-testid="deploy-row"][data-number="3"]')
    .getByTestId("deploy-summary")
    .getByText("2 unchanged")
    .waitFor({ timeout: 30_000 });

  // Back to deploy #1: its image again.
  await page.locator('[data-testid="deploy-row"][data-number="1"]').getByRole("button", { name: "Roll back to this" }).click();
  await page.locator('[data-testid="deploy-row"][data-number="4"]').getByText("rollback to #1").waitFor({ timeout: 30_000 });
  await page
    .locator('[data-testid="stack-service"][data-name="shop_web"]')
    .getByTestId("image")
    .getByText(/^busybox$/)
    .waitFor({ timeout: 30_000 });
  await replicas("shop_web", "1 / 1");
  assert.deepEqual(await runningTasks("shop_client"), clientBefore, "the client's task was still not touched");

  // An env value that only web reads: web's task is recreated with it, the client's is not touched.
  const webRolledBack = await runningTasks("shop_web");
  await page.getByLabel("Set env values").fill("GREETING=bonjour");
  await page.getByRole("button", { name: "Save and deploy" }).click();
  await page
    .locator('[data-testid="deploy-row"][data-number="5"]')
    .getByTestId("deploy-summary")
    .getByText("updated shop_web · 1 unchanged")
    .waitFor({ timeout: 30_000 });
  await page.getByTestId("env-name").getByText("GREETING=••••••").waitFor();
  const envUntil = Date.now() + 90_000;
  while ((await runningTasks("shop_web")).some((t) => webRolledBack.includes(t)) || (await runningTasks("shop_web")).length !== 1) {
    if (Date.now() > envUntil) assert.fail("shop_web's task was not recreated for its new env value");
    await new Promise((r) => setTimeout(r, 500));
  }
  const webSpec = await db.service.findFirstOrThrow({
    where: { name: "shop_web" },
    include: { versions: { orderBy: { version: "desc" }, take: 1 } },
  });
  assert.match(JSON.stringify(webSpec.versions[0]?.spec), /GREETING(=|":")bonjour/);
  assert.deepEqual(await runningTasks("shop_client"), clientBefore, "the client does not read GREETING: its task was not touched");

  // Removing it leaves nothing.
  page.once("dialog", (d) => void d.accept());
  await page.getByRole("button", { name: "Remove", exact: true }).click();
  await page.waitForURL(/\/stacks$/);
  await page.getByText("No stacks yet").waitFor({ timeout: 30_000 });
  assert.equal(await db.service.count({ where: { name: { startsWith: "shop_" } } }), 0);
});

test("a single-host stack from a git repository: its containers, source card, pull now, and webhook", { timeout: 120_000 }, async () => {
  const git = await startGitServer();
  try {
    const idle = (greeting: string) =>
      `services:\n  idle:\n    image: busybox\n    command: ["sh", "-c", "echo greeting-$$GREETING; exec sleep 3600"]\n    environment: {GREETING: ${greeting}}\n`;
    const first = git.commit("ops", { "blog/compose.yaml": idle("hi"), "README.md": "ops\n" });
    await page.goto(`${ui.server.url}/stacks`);
    await page.getByRole("button", { name: "Create stack" }).click();
    const dialog = page.getByRole("dialog", { name: "Create a stack" });
    await dialog.getByLabel("Stack name").fill("blog");
    await dialog.getByLabel("Containers on one host").check();
    await dialog.getByLabel("Host", { exact: true }).selectOption({ label: "stackhost" });
    await dialog.getByLabel("From a git repository").check();
    await dialog.getByLabel("Repository URL").fill(`${git.url}ops`);
    await dialog.getByLabel("Stack directory").fill("blog");
    await dialog.getByRole("button", { name: "Create and deploy" }).click();
    await page.waitForURL(/\/stacks\/[a-z0-9]+$/);
    await page.getByTestId("git-commit").getByText(first.slice(0, 12)).waitFor();
    await page.getByTestId("git-compose").getByText("GREETING: hi").waitFor();
    // docker compose's names, on the chosen host.
    await page
      .locator('[data-testid="stack-container"][data-name="blog-idle-1"]')
      .getByTestId("state")
      .getByText(/^Up/)
      .waitFor({ timeout: 30_000 });
    // The stack's merged log: its container's line, tagged with its service.
    await page
      .getByTestId("stack-logs")
      .getByTestId("log-line")
      .filter({ hasText: "greeting-hi" })
      .filter({ hasText: "idle.1@" })
      .first()
      .waitFor({ timeout: 30_000 });

    // A commit elsewhere in the repository: read, nothing deployed. Then one to the stack: deployed.
    const other = git.commit("ops", { "README.md": "ops, edited\n" });
    await page.getByRole("button", { name: "Pull now" }).click();
    await page
      .getByTestId("pull-result")
      .getByText(`Read ${other.slice(0, 12)}: the stack's files are unchanged`)
      .waitFor();
    const next = git.commit("ops", { "blog/compose.yaml": idle("bonjour") });
    await page.getByRole("button", { name: "Pull now" }).click();
    await page
      .getByTestId("pull-result")
      .getByText(`Read ${next.slice(0, 12)}: deployed #2`)
      .waitFor();
    await page.locator('[data-testid="deploy-row"][data-number="2"]').getByText(next.slice(0, 8)).waitFor({ timeout: 10_000 });
    await page.locator('[data-testid="deploy-row"][data-number="2"]').getByTestId("deploy-summary").getByText("updated idle").waitFor();

    await page.getByRole("button", { name: "Show the push webhook" }).click();
    await page
      .getByTestId("webhook")
      .getByText(/URL: .*\/api\/hooks\/stacks\//)
      .waitFor();
    page.once("dialog", (d) => void d.accept());
    await page.getByRole("button", { name: "Remove", exact: true }).click();
    await page.waitForURL(/\/stacks$/);
  } finally {
    await git.stop();
  }
});
