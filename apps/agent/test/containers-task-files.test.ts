// A service task's secrets and configs on its host: files on a tmpfs of the container's own, bound
// read-only at their targets with their owner and mode, never written into the agent's records,
// and gone with the container.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { TaskFilesSchema } from "@berth/protocol";
import type { AgentRuntime } from "../src/runtime.ts";
import type { ContainerService } from "../src/containers/service.ts";
import { isMountPoint } from "../src/mount/index.ts";
import { busyboxRuntime, disposeRuntime } from "@berth/test-support/busybox-runtime";

let rt: AgentRuntime;
let stateDir: string;
let c: ContainerService;

before(async () => {
  ({ rt, stateDir } = await busyboxRuntime());
  c = rt.containers;
});

after(() => disposeRuntime(rt, stateDir));

async function output(id: string): Promise<string> {
  let s = "";
  for await (const e of c.logs(id)) s += e.line;
  return s;
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

test("a task's files show at their targets, read-only, with their owner and mode, and live only in memory", async () => {
  const secret = `s3cret-${Math.random().toString(36).slice(2)}`;
  const files = TaskFilesSchema.parse([
    { target: "/run/secrets/db_password", data: b64(secret) },
    { target: "/etc/app/app.conf", data: b64("port=8080\n"), uid: "1000", gid: "1000", mode: 0o440 },
  ]);
  const { Id } = await c.create(
    {
      Image: "busybox",
      Cmd: [
        "sh",
        "-c",
        "cat /run/secrets/db_password; echo; stat -c '%u:%g %a' /run/secrets/db_password /etc/app/app.conf; cat /etc/app/app.conf; " +
          "(echo x > /run/secrets/db_password) 2>/dev/null && echo writable || echo read-only",
      ],
    },
    "task-files",
    { files },
  );
  await c.start(Id);
  assert.equal((await c.wait(Id)).StatusCode, 0);
  assert.equal(await output(Id), `${secret}\n0:0 444\n1000:1000 440\nport=8080\nread-only\n`);

  // The record names the targets; the contents are on the tmpfs only.
  const dir = join(stateDir, "containers", Id);
  assert.ok(!readFileSync(join(dir, "container.json"), "utf8").includes(secret), "the secret is not in the record");
  assert.ok(isMountPoint(join(dir, "files")), "the files are on a tmpfs of their own");
  // A restart of the container finds them again.
  await c.start(Id);
  assert.equal((await c.wait(Id)).StatusCode, 0);
  await c.remove(Id);
  assert.ok(!isMountPoint(join(dir, "files")), "the tmpfs goes with the container");
});

test("bad task files are refused by name: relative or duplicate targets, too much data", () => {
  const issue = (files: unknown) => {
    const r = TaskFilesSchema.safeParse(files);
    return r.success ? "" : r.error.issues.map((i) => i.message).join("; ");
  };
  assert.match(issue([{ target: "run/x", data: "" }]), /absolute path/);
  assert.match(issue([{ target: "/run/../etc/x", data: "" }]), /no \.\./);
  assert.match(
    issue([
      { target: "/x", data: "" },
      { target: "/x", data: "" },
    ]),
    /two task files at \/x/,
  );
  const big = Buffer.alloc(400 * 1024).toString("base64");
  assert.match(
    issue([
      { target: "/a", data: big },
      { target: "/b", data: big },
    ]),
    /at most 655360 fit/,
  );
});
