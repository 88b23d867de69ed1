// Browser: a host's Images tab pulls `busybox` (through the agent's Docker Hub mirror on a
// loopback registry) with a live progress bar, lists it, tags it and removes the tag.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { waitFor } from "@berth/test-support/wait";
import type { Page } from "playwright-core";
import { startHostUi, type HostUi } from "../support/host-ui.ts";

let ui: HostUi;
let page: Page;

before(async () => {
  ui = await startHostUi("imgs");
  page = ui.page;
});

after(() => ui?.stop());

test("pull busybox from the Images tab, see it listed, tag and untag it", { timeout: 120_000 }, async () => {
  await ui.signUpAndOpenHost("img@example.com", "image-tab-password");
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
