// commit turns a container's changes into an image that runs; export gives its whole filesystem.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as tar from "tar";
import type { AgentRuntime } from "../src/runtime.ts";
import { busyboxRuntime, disposeRuntime } from "@berth/test-support/busybox-runtime";

let rt: AgentRuntime;
let stateDir: string;

before(async () => {
  ({ rt, stateDir } = await busyboxRuntime());
});

after(() => disposeRuntime(rt, stateDir));

async function output(id: string): Promise<string> {
  let s = "";
  for await (const e of rt.containers.logs(id)) s += e.line;
  return s;
}

test("commit a container's changes with a message and changes, then run the committed image", async () => {
  const { Id } = await rt.containers.create({
    Image: "busybox",
    Cmd: ["sh", "-c", "echo made-in-container > /hello.txt; rm /bin/vi; sleep 100000"],
    Env: ["STAGE=one"],
  });
  await rt.containers.start(Id);
  for (let i = 0; i < 50; i++) {
    const { Id: e } = rt.execs.create(Id, { Cmd: ["test", "-f", "/hello.txt"] });
    if ((await (await rt.execs.start(e)).exit) === 0) break;
  }
  const { Id: imageId } = await rt.commit(Id, {
    reference: "committed/app:v1",
    comment: "a test commit",
    changes: ['CMD ["cat", "/hello.txt"]', "ENV STAGE=two"],
  });
  assert.match(imageId, /^sha256:[a-f0-9]{64}$/);
  assert.equal((rt.containers.inspect(Id).State as { Status: string }).Status, "running", "a paused-for-commit container runs again");
  const inspect = await rt.images.inspect("committed/app:v1");
  assert.deepEqual((inspect.Config as { Cmd: string[] }).Cmd, ["cat", "/hello.txt"]);
  assert.ok((inspect.Config as { Env: string[] }).Env.includes("STAGE=two"));
  assert.equal((inspect.RootFS as { Layers: string[] }).Layers.length, 2);
  const history = await rt.images.history("committed/app:v1");
  assert.equal(history[0]!.Comment, "a test commit");

  const { Id: run } = await rt.containers.create({ Image: "committed/app:v1" });
  await rt.containers.start(run);
  assert.equal((await rt.containers.wait(run)).StatusCode, 0);
  assert.equal(await output(run), "made-in-container\n");
  // The deletion is part of the layer too (a whiteout).
  const { Id: check } = await rt.containers.create({
    Image: "committed/app:v1",
    Cmd: ["sh", "-c", "test -e /bin/vi && echo present || echo gone"],
  });
  await rt.containers.start(check);
  await rt.containers.wait(check);
  assert.equal(await output(check), "gone\n");
  await rt.containers.remove(run);
  await rt.containers.remove(check);
  await rt.containers.remove(Id, { force: true });
});

test("export gives the container's filesystem as a tar, running or stopped", async () => {
  const { Id } = await rt.containers.create({ Image: "busybox", Cmd: ["sh", "-c", "echo exported > /marker"] });
  await rt.containers.start(Id);
  await rt.containers.wait(Id);
  const names: string[] = [];
  let marker = "";
  const parser = new tar.Parser({
    onReadEntry: (e) => {
      names.push(e.path);
      if (e.path === "marker") e.on("data", (d: Buffer) => (marker += d.toString()));
      else e.resume();
    },
  });
  const ended = new Promise((r) => parser.on("end", r));
  for await (const chunk of await rt.exportContainer(Id)) parser.write(chunk as Buffer);
  parser.end();
  await ended;
  assert.ok(names.includes("bin/busybox"), "image content is there");
  assert.equal(marker, "exported\n", "and the container's own changes");
  assert.ok(!names.some((n) => n.startsWith("/") || n.includes("..")));
  await rt.containers.remove(Id);
});
