// Browser: a build from a git repository served in the lab (git daemon on the lab's gateway),
// started from a host's Images tab. Its log is watched live (a line shows while the build still
// runs), the build ends as succeeded in the Builds page's history with its commit, and the image
// is on the host's Images tab.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { startGitServer, type GitServer } from "@berth/test-support/git-server";
import { startHostUi, type HostUi } from "../support/host-ui.ts";

let ui: HostUi;
let page: Page;
let git: GitServer;

before(async () => {
  ui = await startHostUi("bld", { lab: true });
  page = ui.page;
  git = await startGitServer(ui.lab!.gateway);
});

after(async () => {
  await git?.stop();
  await ui?.stop();
});

test("build from git on the Images tab, watch the log live, find the image", { timeout: 240_000 }, async () => {
  const commit = git.commit("app.git", {
    "README.md": "not part of the context\n",
    "svc/Dockerfile":
      'FROM busybox\nCOPY hello.txt /hello.txt\nRUN echo start-$((40+2)) && sleep 4 && echo end-$((40+3))\nCMD ["cat", "/hello.txt"]\n',
    "svc/hello.txt": "hello from git\n",
  });
  await ui.signUpAndOpenHost("builder@example.com", "build-tab-password");
  await page.getByRole("link", { name: "Images" }).click();
  await page.getByRole("button", { name: "Build image" }).click();
  const dialog = page.getByRole("dialog", { name: "Build an image" });
  await dialog.getByLabel("Repository URL").fill(`${git.url}app.git`);
  await dialog.getByLabel("Ref").fill("main");
  await dialog.getByLabel("Context directory").fill("svc");
  await dialog.getByLabel("Tags").fill("from-git:1");
  await dialog.getByRole("button", { name: "Build", exact: true }).click();
  await page.waitForURL(/\/builds\/[a-z0-9]+$/);

  // Live: the RUN's first line of output (start-42: not in the command's own text) is on the page
  // while the build still runs, before its last.
  const log = page.getByTestId("build-log");
  await log.getByText(/^start-42$/m).waitFor({ timeout: 90_000 });
  const seenWhileRunning = {
    status: await page.getByTestId("build-status").getAttribute("data-status"),
    text: (await log.textContent()) ?? "",
  };
  assert.equal(seenWhileRunning.status, "running", seenWhileRunning.text);
  assert.doesNotMatch(seenWhileRunning.text, /^end-43$/m);

  await page.locator('[data-testid="build-status"][data-status="succeeded"]').waitFor({ timeout: 90_000 });
  const text = (await log.textContent()) ?? "";
  assert.match(text, new RegExp(`Commit ${commit}`));
  assert.match(text, /^end-43$/m);
  assert.match(text, /Successfully tagged from-git:1/);
  assert.match((await page.getByTestId("build-image").textContent()) ?? "", /^[a-f0-9]{12}$/);
  await page.screenshot({ path: join(process.cwd(), "test-results", "build-log.png") });

  await page.getByRole("link", { name: "← Builds" }).click();
  const row = page.locator('[data-testid="build-row"][data-status="succeeded"]');
  await row.waitFor();
  assert.match((await row.textContent()) ?? "", new RegExp(`from-git:1.*app\\.git//svc@main \\(${commit.slice(0, 10)}\\)`));

  // Back to the build, and from its host link to that host's images.
  await row.getByRole("link").first().click();
  await page.getByTestId("build-details").getByRole("link", { name: "bld" }).click();
  await page.locator('[data-testid="image-row"][data-tag="from-git:1"]').waitFor({ timeout: 20_000 });
});
