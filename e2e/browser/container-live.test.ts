// Browser: a container's live views. Logs follow as lines are printed, the terminal runs a typed
// command, the stats charts draw and keep updating, all over /api/streams. Real agent and Chromium.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { waitFor } from "@berth/test-support/wait";
import { startHostUi, type HostUi } from "../support/host-ui.ts";

let ui: HostUi;
let page: Page;

before(async () => {
  ui = await startHostUi("live");
  page = ui.page;
});

after(() => ui?.stop());

/** The rows on screen (the viewer renders only those), one line of text each. */
const logText = async () => (await page.getByTestId("log-line").allTextContents()).join("\n");

test("follow a container's logs live, type in its terminal, watch its stats", { timeout: 180_000 }, async () => {
  await ui.signUpAndOpenHost("live@example.com", "live-tab-password");
  await ui.pullFromImagesTab("busybox");
  await page.getByRole("link", { name: "Containers" }).click();
  await page.getByRole("button", { name: "Run container" }).click();
  const dialog = page.getByRole("dialog", { name: "Run a container" });
  await dialog.getByLabel("Name").fill("ticker");
  await dialog.getByLabel("Command").fill("sh -c 'i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.3; done'");
  await dialog.getByRole("button", { name: "Run" }).click();
  await dialog.waitFor({ state: "detached", timeout: 30_000 });
  await page.locator('[data-testid="container-row"][data-name="ticker"]').getByRole("link", { name: "ticker" }).click();

  // Logs: lines keep arriving without a reload.
  await waitFor("first ticks", async () => /tick 3\b/.test(await logText()), 20_000);
  const seen = Number(/tick (\d+)\D*$/.exec(await logText())?.[1]);
  await waitFor("later ticks arrive live", async () => new RegExp(`tick ${seen + 5}\\b`).test(await logText()), 20_000);
  // Pause holds the view: once what was in flight when it was pressed has come (at most the
  // stream's window), no line is added while the container prints on. Resume catches up, in order.
  const hostId = /\/hosts\/([^/]+)\//.exec(page.url())![1]!;
  const containerId = /\/containers\/([0-9a-f]{64})/.exec(page.url())![1]!;
  const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join("; ");
  /** The last tick the container printed, from its log through the API (not through the page). */
  const printed = async () => {
    const input = encodeURIComponent(JSON.stringify({ json: { hostId, id: containerId, tail: 1 } }));
    const res = await fetch(`${ui.server.url}/api/trpc/containers.logs?input=${input}`, { headers: { cookie } });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    const lines = (JSON.parse(text) as { result: { data: { json: Array<{ line: string }> } } }).result.data.json;
    return Number(/tick (\d+)/.exec(lines.at(-1)?.line ?? "")?.[1] ?? 0);
  };
  /** What the page shows: the line count in the status and the last tick on screen. */
  const view = async () => ({
    lines: Number(/([\d,]+) lines/.exec((await page.getByTestId("logs-status").textContent()) ?? "")?.[1]?.replace(/,/g, "")),
    last: Number(/tick (\d+)\D*$/.exec(await logText())?.[1]),
  });
  await page.getByTestId("logs-pause").click();
  await page.getByTestId("logs-status").and(page.locator('[data-status="paused"]')).waitFor();
  // Live, the view trails the container by a tick at most; paused, it falls behind.
  await waitFor("the paused view falling behind the container", async () => (await printed()) >= (await view()).last + 4, 20_000, 200);
  const held = await view();
  const later = await printed();
  await waitFor("the container printing on", async () => (await printed()) >= later + 4, 20_000, 200);
  assert.deepEqual(await view(), held, "the paused view gained no lines while the container printed four more");
  const printedWhilePaused = await printed();
  await page.getByTestId("logs-pause").click();
  await waitFor("caught up with what was printed while paused", async () => (await view()).last >= printedWhilePaused, 20_000);
  const ticks = [...(await logText()).matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));
  ticks.slice(1).forEach((n, i) => {
    assert.equal(n, ticks[i]! + 1, "consecutive ticks, none lost or repeated");
  });
  // The filter narrows the rows on screen.
  await page.getByLabel("Filter lines").fill(`tick ${seen}`);
  await waitFor(
    "filtered",
    async () =>
      (await page.getByTestId("log-line").count()) >= 1 &&
      (await page.getByTestId("log-line").allTextContents()).every((t) => t.includes(`tick ${seen}`)),
  );
  await page.getByLabel("Filter lines").fill("");

  // Terminal: a real shell in the container.
  await page.getByRole("tab", { name: "terminal" }).click();
  await page.getByTestId("terminal-state").and(page.locator('[data-state="open"]')).waitFor({ timeout: 20_000 });
  await page.getByTestId("terminal").click();
  await page.keyboard.type("echo hi\n");
  // xterm draws one element per row: the command's row, then its output alone on the next.
  const rows = async () => (await page.locator(".xterm-rows > div").allTextContents()).map((r) => r.replace(/\u00a0/g, " ").trimEnd());
  await waitFor(
    "hi in the terminal",
    async () => {
      const r = await rows();
      const at = r.findIndex((x) => x.endsWith("# echo hi"));
      return at >= 0 && r[at + 1] === "hi";
    },
    20_000,
  ).catch(async (e) => assert.fail(`${String(e)}; rows: ${JSON.stringify(await rows())}`));
  await page.screenshot({ path: join(process.cwd(), "test-results", "container-terminal.png") });

  // Stats: the charts draw and gain points each second.
  await page.getByRole("tab", { name: "stats" }).click();
  const cpu = page.getByTestId("chart-cpu");
  await waitFor("a first point", async () => Number(await cpu.getAttribute("data-points")) >= 1, 20_000);
  const first = Number(await cpu.getAttribute("data-points"));
  await waitFor("more points", async () => Number(await cpu.getAttribute("data-points")) >= first + 2, 20_000);
  assert.match((await page.getByTestId("chart-memory").textContent()) ?? "", /(KiB|MiB)/);
  // A uPlot chart: a time axis and a value axis, and a cursor whose legend gives the value under it.
  assert.equal(await cpu.locator("canvas").count(), 1);
  assert.ok((await cpu.locator(".u-axis").count()) >= 2, "time and value axes");
  const over = cpu.locator(".u-over");
  const box = (await over.boundingBox())!;
  await over.hover({ position: { x: box.width - 2, y: box.height / 2 } });
  await waitFor(
    "the cursor's value in the legend",
    async () => /CPU\s*[\d.]+ %/.test((await cpu.locator(".u-legend").textContent()) ?? ""),
    5_000,
  ).catch(async (e) => assert.fail(`${String(e)}; legend: ${await cpu.locator(".u-legend").textContent()}`));
  await page.screenshot({ path: join(process.cwd(), "test-results", "container-stats.png") });

  // A million lines: all held, only the rows on screen drawn, the newest at the bottom.
  await page.getByRole("link", { name: "← Containers" }).click();
  await page.getByRole("button", { name: "Run container" }).click();
  await dialog.getByLabel("Name").fill("million");
  await dialog.getByLabel("Command").fill("sh -c 'seq 1 1000000; sleep 3600'");
  await dialog.getByRole("button", { name: "Run" }).click();
  await dialog.waitFor({ state: "detached", timeout: 30_000 });
  await page.locator('[data-testid="container-row"][data-name="million"]').getByRole("link", { name: "million" }).click();
  await page.getByLabel("Lines to load").selectOption("");
  await page.getByTestId("logs-status").getByText("1,000,000 lines").waitFor({ timeout: 90_000 });
  assert.ok((await page.getByTestId("log-line").count()) < 200, "a virtualized view draws only what is on screen");
  await waitFor(
    "the last line shown",
    async () => (await page.getByTestId("log-line").allTextContents()).some((t) => / 1000000$/.test(t)),
    20_000,
  );
  await page.getByLabel("Filter lines").fill("999999");
  await waitFor(
    "the filter over a million lines",
    async () => / 1 match/.test((await page.getByTestId("logs-status").textContent()) ?? ""),
    20_000,
  );

  // The fleet table and the search box find it across hosts.
  await page.getByRole("link", { name: "Fleet" }).click();
  await page.locator('[data-testid="fleet-row"][data-name="ticker"]').waitFor({ timeout: 20_000 });
  await page.getByLabel("Search hosts, containers and images").fill("tick");
  await page
    .getByTestId("search-results")
    .getByRole("link", { name: /ticker/ })
    .click();
  await page.waitForURL(/\/containers\/[0-9a-f]{64}$/);
  await page.getByTestId("container-name").getByText("ticker").waitFor();

  // The fleet's events page shows what happens on the host, live.
  const mutate = async (path: string, json: Record<string, unknown>) => {
    const res = await fetch(`${ui.server.url}/api/trpc/${path}`, {
      method: "POST",
      headers: { cookie, "content-type": "application/json" },
      body: JSON.stringify({ json: { hostId, ...json } }),
    });
    assert.equal(res.status, 200, await res.text());
  };
  await page.getByRole("link", { name: "Events" }).click();
  await page.getByTestId("events-state").and(page.locator('[data-state="live"]')).waitFor({ timeout: 20_000 });
  // The feed subscribes on the server after the page's stream opened: rename a container until
  // the rename shows.
  let name = "million";
  await waitFor(
    "the events feed live",
    async () => {
      if ((await page.locator('[data-testid="event-row"][data-action="rename"]').count()) > 0) return true;
      const next = `million-${Date.now()}`;
      await mutate("containers.rename", { id: name, name: next });
      name = next;
      return false;
    },
    20_000,
    500,
  );
  // Someone else stops the container (a script with the same session here).
  await mutate("containers.kill", { id: "ticker", signal: "SIGKILL" });
  await page.locator('[data-testid="event-row"][data-action="die"]').filter({ hasText: "ticker" }).first().waitFor({ timeout: 20_000 });
});
