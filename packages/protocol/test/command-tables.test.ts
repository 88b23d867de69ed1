// The command and stream tables stay complete: every command has its arguments, reply and
// progress schemas, every stream kind its arguments and data, and replies are checked as the
// control plane checks them (typed fields required, Docker's other fields passed through).
import { test } from "node:test";
import assert from "node:assert/strict";
import { z } from "zod";
import {
  CommandArgs,
  CommandProgressItems,
  CommandReplies,
  parseCommandProgress,
  parseCommandReply,
  parseStreamData,
  STREAM_KINDS,
  StreamArgs,
  StreamData,
} from "../src/index.ts";

const names = Object.keys(CommandArgs).sort();

test("every command has an args schema, a reply schema and a progress schema, and nothing else does", () => {
  assert.ok(names.length > 30, `${names.length} commands`);
  assert.deepEqual(Object.keys(CommandReplies).sort(), names);
  assert.deepEqual(Object.keys(CommandProgressItems).sort(), names);
  for (const n of names) {
    assert.ok(Object.getOwnPropertyDescriptor(CommandArgs, n)?.value instanceof z.ZodType, `${n}: args`);
    assert.ok(Object.getOwnPropertyDescriptor(CommandReplies, n)?.value instanceof z.ZodType, `${n}: reply`);
    assert.ok(Object.getOwnPropertyDescriptor(CommandProgressItems, n)?.value instanceof z.ZodType, `${n}: progress`);
  }
});

test("every stream kind has an args schema and a data schema", () => {
  assert.deepEqual(Object.keys(StreamArgs).sort(), [...STREAM_KINDS].sort());
  assert.deepEqual(Object.keys(StreamData).sort(), [...STREAM_KINDS].sort());
  for (const k of STREAM_KINDS) {
    assert.ok(StreamArgs[k] instanceof z.ZodType, `${k}: args`);
    assert.ok(StreamData[k] instanceof z.ZodType, `${k}: data`);
  }
});

test("a reply is checked: typed fields required, other Docker fields kept, the first bad field named", () => {
  const item = {
    Id: "a".repeat(64),
    Names: ["/web"],
    Image: "busybox",
    ImageID: "sha256:1",
    Command: "sh",
    Created: 1,
    State: "running",
    Status: "Up 1 second",
    Labels: {},
    Ports: [{ PrivatePort: 80 }],
  };
  const good = parseCommandReply("containers.list", [item]);
  assert.ok(good.ok);
  assert.deepEqual(good.value[0]?.Ports, [{ PrivatePort: 80 }], "fields the schema does not name pass through");

  const bad = parseCommandReply("containers.list", [item, { ...item, State: "sleeping" }]);
  assert.equal(bad.ok, false);
  assert.match(bad.ok ? "" : bad.reason, /^1\.State: /);
  const missing = parseCommandReply("containers.create", { Warnings: [] });
  assert.match(missing.ok ? "" : missing.reason, /^Id: /);
  const notAnObject = parseCommandReply("ping", "pong");
  assert.match(notAnObject.ok ? "" : notAnObject.reason, /^\(root\): /);
});

test("progress: pulls and pushes report items of their shape; other commands report none", () => {
  assert.ok(parseCommandProgress("images.pull", { id: "abc", status: "Downloading", current: 1, total: 2 }).ok);
  assert.ok(parseCommandProgress("images.push", { id: "abc", status: "Pushed" }).ok);
  assert.equal(parseCommandProgress("images.pull", { id: "abc", status: "Downloading" }).ok, false, "a download says how far");
  assert.equal(parseCommandProgress("containers.start", { id: "abc", status: "Pushed" }).ok, false);
});

test("stream data is checked per kind", () => {
  assert.ok(parseStreamData("logs", { lines: [["1-0", "o", "2026-01-01T00:00:00Z", "hi\n"]] }).ok);
  assert.equal(parseStreamData("logs", { lines: [["1-0", "x", "t", "hi\n"]] }).ok, false);
  assert.ok(parseStreamData("exec", { o: "hi" }).ok);
  assert.equal(parseStreamData("exec", { exit: "0" }).ok, false);
  const event = {
    seq: 1,
    Type: "container",
    Action: "start",
    Actor: { ID: "c1", Attributes: { name: "web" } },
    scope: "local",
    time: 1,
    timeNano: 1e18,
  };
  assert.ok(parseStreamData("events", { events: [event], dropped: 2 }).ok);
  assert.equal(parseStreamData("events", { events: [{ ...event, Type: "plugin" }] }).ok, false);
});
