import { test } from "node:test";
import assert from "node:assert/strict";
import { buildKey, contextDir, inlineContexts } from "../src/stacks/build-contexts.ts";
import { loadCompose } from "../src/stacks/compose/index.ts";
import { HostPlanError, planHost } from "../src/stacks/host-plan.ts";

test("a build context is a directory of the stack", () => {
  assert.equal(contextDir("."), "");
  assert.equal(contextDir("./app/"), "app");
  assert.equal(contextDir("app/../web"), "web");
  for (const bad of ["../x", "/srv/app", "https://example.com/repo.git", "git@example.com:r.git", "app/../../x"])
    assert.ok(contextDir(bad) instanceof Error, bad);
});

test("an inline context's identity follows its own files only", async () => {
  const files = { "compose.yaml": "services: {}\n", "app/Dockerfile": "FROM busybox\n", "app/msg.txt": "a\n", "web/x": "1" };
  const base = await inlineContexts(files).id("app");
  assert.equal(await inlineContexts({ ...files, "web/x": "2", "compose.yaml": "# changed\n" }).id("./app"), base);
  assert.notEqual(await inlineContexts({ ...files, "app/msg.txt": "b\n" }).id("app"), base);
  // A file moved to another name is another context.
  const { "app/msg.txt": _, ...moved } = files;
  assert.notEqual(await inlineContexts({ ...moved, "app/msg2.txt": "a\n" }).id("app"), base);
  await assert.rejects(inlineContexts(files).id("nothing"), /no files under nothing/);
});

test("a build's key changes with its context and its settings, not with their order", () => {
  const s = { args: { A: "1", B: "2" }, labels: {} };
  assert.equal(buildKey("git:1", s), buildKey("git:1", { args: { B: "2", A: "1" }, labels: {} }));
  assert.notEqual(buildKey("git:1", s), buildKey("git:2", s));
  assert.notEqual(buildKey("git:1", s), buildKey("git:1", { ...s, dockerfile: "Dockerfile.prod" }));
  assert.notEqual(buildKey("git:1", s), buildKey("git:1", { ...s, target: "runtime" }));
  assert.notEqual(buildKey("git:1", s), buildKey("git:1", { ...s, args: { A: "1", B: "3" } }));
});

test("the host plan takes build: with its settings and refuses contexts outside the stack", () => {
  const plan = (yaml: string) => planHost("p", loadCompose([{ name: "compose.yaml", text: yaml }]).model);
  const ok = plan(
    "services:\n  a:\n    build: {context: ./app, dockerfile: Dockerfile.dev, args: [X=1], labels: {team: x}, no_cache: true}\n",
  );
  assert.deepEqual(ok.services[0]?.build, {
    tag: "p-a",
    context: "app",
    dockerfile: "Dockerfile.dev",
    args: { X: "1" },
    labels: { team: "x" },
    noCache: true,
    pull: false,
  });
  assert.throws(
    () => plan("services:\n  a:\n    build: {context: ../up, dockerfile: /etc/passwd, network: host}\n"),
    (e: unknown) =>
      e instanceof HostPlanError &&
      e.problems.length === 3 &&
      e.problems.some((p) => p.includes("stays inside")) &&
      e.problems.some((p) => p.includes("dockerfile")) &&
      e.problems.some((p) => p.includes("network")),
  );
});
