// Swagger coverage: every method and path of the Engine API swagger for the highest version served
// answers as a dockerd in the same state would, never with the router's "page not found" or a 405.
// The paths come from a fixture extracted from moby's swagger (see its "source"). Each is called
// with names that do not exist, so the answers are the "no such …" errors, the refusals of an
// absent feature (Swarm, plugins, BuildKit) and the answers that need no object (lists, prunes).
// Also: the absent features' exact dockerd answers, and attach over WebSocket.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { request, type IncomingHttpHeaders } from "node:http";
import type { Socket } from "node:net";
import { join } from "node:path";
import { pino } from "pino";
import { z } from "zod";
import { startDockerApi, type DockerApi } from "../src/dockerapi/server.ts";
import { FrameReader, MAX_WS_FRAME, WebSocketProtocolError } from "../src/dockerapi/websocket.ts";
import { busyboxRuntime, disposeRuntime } from "@berth/test-support/busybox-runtime";
import type { AgentRuntime } from "../src/runtime.ts";

const FixtureSchema = z.object({
  source: z.string(),
  apiVersion: z.string(),
  operations: z.array(
    z.object({
      method: z.enum(["GET", "POST", "PUT", "DELETE", "HEAD"]),
      path: z.string(),
      operation: z.string(),
      statuses: z.array(z.number().int()),
      requiredQuery: z.array(z.string()).optional(),
      requiredHeaders: z.array(z.string()).optional(),
      body: z.enum(["json", "binary"]).optional(),
    }),
  ),
});
const fixture = FixtureSchema.parse(JSON.parse(readFileSync(new URL("./fixtures/engine-api-1.47-paths.json", import.meta.url), "utf8")));
type Operation = (typeof fixture.operations)[number];

/** A name no object has; every "not found" must name it. */
const MISSING = "berth-coverage-missing";
/** A registry reference on loopback port 1, where nothing listens: registry calls fail fast and stay on this host. */
const LOOPBACK_REF = `127.0.0.1:1/${MISSING}`;
/** Error statuses dockerd answers beyond those a swagger operation lists (bad input, not found, conflict, failure, off). */
const ERROR_STATUSES = new Set([400, 404, 409, 500, 501, 503]);

/** Values for the required query parameters, by name; per-operation ones first. */
const QUERY: Record<string, string> = { h: "24", w: "80", path: "/", remote: LOOPBACK_REF, term: LOOPBACK_REF, version: "1" };
const OPERATION_QUERY: Record<string, Record<string, string>> = {
  ContainerRename: { name: "berth-coverage-renamed" },
  PluginCreate: { name: "berth-coverage-plugin" },
  ImageCreate: { fromImage: LOOPBACK_REF },
  ImageCommit: { container: MISSING },
  SystemEvents: { since: "1", until: "2" },
  ContainerAttach: { stream: "1", stdout: "1" },
};
/** JSON bodies that reach the handler's checks without creating anything; `{}` otherwise. */
const BODIES: Record<string, unknown> = {
  ContainerCreate: { Image: LOOPBACK_REF },
  ContainerExec: { Cmd: ["true"] },
  SystemAuth: { serveraddress: "127.0.0.1:1", username: "berth", password: "coverage" },
  NetworkCreate: { Name: "berth-coverage-net", Driver: MISSING },
  NetworkConnect: { Container: MISSING },
  NetworkDisconnect: { Container: MISSING },
  VolumeCreate: { Name: "berth-coverage-volume", Driver: MISSING },
  PluginPull: [],
  PluginUpgrade: [],
  PluginSet: [],
};
/** The upgrade each hijacking operation asks for, as its clients do. */
const UPGRADES: Record<string, Record<string, string>> = {
  ContainerAttach: { Connection: "Upgrade", Upgrade: "tcp" },
  ExecStart: { Connection: "Upgrade", Upgrade: "tcp" },
  Session: { Connection: "Upgrade", Upgrade: "h2c", "X-Docker-Expose-Session-Uuid": MISSING },
  ContainerAttachWebsocket: {
    Connection: "Upgrade",
    Upgrade: "websocket",
    "Sec-WebSocket-Version": "13",
    // RFC 6455's sample key (section 1.3), whose accept value the RFC gives.
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
  },
};

let rt: AgentRuntime;
let stateDir: string;
let api: DockerApi;
let socketPath: string;

before(async () => {
  ({ rt, stateDir } = await busyboxRuntime());
  socketPath = join(stateDir, "docker.sock");
  api = await startDockerApi({ runtime: rt, socketPath, stateDir, logger: pino({ level: "silent" }) });
});

after(async () => {
  await api?.close();
  await disposeRuntime(rt, stateDir);
});

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body of an error answer (bounded); a success's body is not read, it may be an endless stream. */
  body: Buffer;
}

/** One request with a deadline. Only the status line and headers of a success or an upgrade are read. */
function call(method: string, path: string, body?: Buffer, headers: Record<string, string> = {}, timeoutMs = 15_000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, agent: false, headers: { ...headers, "Content-Length": body?.length ?? 0 } });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (a: Answer) => {
      clearTimeout(timer);
      resolve(a);
    };
    req.on("upgrade", (res, socket: Socket) => {
      socket.destroy();
      done({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.alloc(0) });
    });
    req.on("response", (res) => {
      const status = res.statusCode ?? 0;
      if (status < 400) {
        res.destroy();
        req.destroy();
        done({ status, headers: res.headers, body: Buffer.alloc(0) });
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size <= 64 << 10) chunks.push(c);
      });
      res.on("end", () => done({ status, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", (e) => reject(e));
    });
    req.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end(body);
  });
}

function requestFor(op: Operation): { path: string; body?: Buffer; headers: Record<string, string> } {
  const special = op.operation === "DistributionInspect" ? LOOPBACK_REF : MISSING;
  const path = op.path.replace(/\{\w+\}/g, special);
  const q = new URLSearchParams();
  for (const name of op.requiredQuery ?? []) q.set(name, OPERATION_QUERY[op.operation]?.[name] ?? QUERY[name] ?? "1");
  for (const [k, v] of Object.entries(OPERATION_QUERY[op.operation] ?? {})) q.set(k, v);
  const headers: Record<string, string> = { ...UPGRADES[op.operation] };
  // An empty auth config, base64url JSON, as the CLI sends without credentials.
  for (const h of op.requiredHeaders ?? []) headers[h] = Buffer.from("{}").toString("base64url");
  let body: Buffer | undefined;
  if (op.body === "json") {
    body = Buffer.from(JSON.stringify(BODIES[op.operation] ?? {}));
    headers["Content-Type"] = "application/json";
  } else if (op.body === "binary") {
    body = Buffer.alloc(0);
    headers["Content-Type"] = "application/x-tar";
  }
  const query = q.toString();
  return { path: `/v${fixture.apiVersion}${path}${query ? `?${query}` : ""}`, headers, ...(body ? { body } : {}) };
}

/** Why an answer is not one a dockerd could give, or null. */
function problemWith(op: Operation, a: Answer): string | null {
  if (a.status === 405) return "405: the method is documented for this path";
  const documented = op.statuses.includes(a.status);
  if (!documented && !ERROR_STATUSES.has(a.status)) return `status ${a.status} is not documented (${op.statuses.join(", ")})`;
  if (a.status < 400 || op.method === "HEAD") return null; // a HEAD answer has no body to read
  let message: unknown;
  try {
    message = (JSON.parse(a.body.toString("utf8")) as { message?: unknown }).message;
  } catch {
    return `${a.status} without Docker's JSON error body: ${JSON.stringify(a.body.toString("utf8").slice(0, 200))}`;
  }
  if (typeof message !== "string" || !message) return `${a.status} without a message: ${a.body.toString("utf8").slice(0, 200)}`;
  if (/page not found/i.test(message)) return `the router's "page not found": ${message}`;
  if (a.status === 404 && !message.includes(MISSING)) return `a 404 that does not name the missing object: ${message}`;
  return null;
}

test(`every path and method of the Engine API ${fixture.apiVersion} swagger answers as dockerd would`, async () => {
  assert.ok(fixture.operations.length >= 100, "the whole swagger is in the fixture");
  const problems: string[] = [];
  const seen: string[] = [];
  for (const op of fixture.operations) {
    const { path, body, headers } = requestFor(op);
    let answer: Answer;
    try {
      answer = await call(op.method, path, body, headers);
    } catch (e) {
      problems.push(`${op.method} ${op.path} (${op.operation}): ${(e as Error).message}`);
      continue;
    }
    seen.push(`${op.method} ${op.path} ${answer.status} ${answer.body.toString("utf8").trim().slice(0, 160)}`);
    const problem = problemWith(op, answer);
    if (problem) problems.push(`${op.method} ${op.path} (${op.operation}): ${problem}`);
  }
  assert.deepEqual(problems, [], `answers:\n${seen.join("\n")}`);
  assert.equal((await call("GET", "/_ping")).status, 200, "still serving");
});

const message = (a: Answer) => (JSON.parse(a.body.toString("utf8")) as { message: string }).message;
const NOT_MANAGER =
  'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';

test("absent features answer with dockerd's status and message for a daemon with them off", async () => {
  const cases: Array<[method: string, path: string, headers: Record<string, string>, status: number, expected: string | RegExp]> = [
    ["GET", "/v1.47/swarm", {}, 503, NOT_MANAGER],
    ["GET", "/v1.41/services/x/logs?stdout=1", {}, 503, NOT_MANAGER],
    ["POST", "/v1.47/swarm/leave", {}, 503, "This node is not part of a swarm"],
    ["PUT", "/v1.47/volumes/x?version=1", {}, 503, "volume update only valid for cluster volumes, but swarm is unavailable"],
    ["GET", "/v1.47/plugins/x/json", {}, 404, 'plugin "x" not found'],
    ["GET", "/v1.47/plugins/team/x:1.0/json", {}, 404, 'plugin "team/x:1.0" not found'],
    ["GET", "/v1.47/plugins?filters=%7B%22color%22%3A%5B%22red%22%5D%7D", {}, 400, /invalid filter 'color'/],
    ["POST", "/v1.47/session", {}, 400, "no upgrade proto in request"],
    ["POST", "/v1.47/session", { Connection: "Upgrade", Upgrade: "tcp" }, 400, "protocol tcp not supported"],
    ["POST", "/v1.47/session", { Connection: "Upgrade", Upgrade: "h2c" }, 501, /not BuildKit's build sessions/],
    ["POST", "/v1.47/grpc", {}, 500, "no upgrade proto in request"],
    ["POST", "/v1.47/grpc", { Connection: "Upgrade", Upgrade: "h2c" }, 501, /not BuildKit's gRPC API/],
    ["POST", "/v1.47/build?version=3", {}, 400, 'invalid version "3"'],
    ["POST", "/v1.47/build?t=app", {}, 400, "Cannot locate specified Dockerfile: Dockerfile"],
    ["POST", "/v1.47/build?version=2", {}, 501, /BuildKit \(version=2\) needs a build session/],
    ["POST", "/v1.47/build/cancel", {}, 400, "build ID not provided"],
    ["GET", "/v1.47/containers/x/checkpoints", {}, 501, /experimental feature is disabled by default/],
    ["DELETE", "/v1.47/containers/x/checkpoints/c1", {}, 501, /experimental feature is disabled by default/],
    ["GET", "/v1.47/containers/x/attach/ws", {}, 404, "No such container: x"],
  ];
  for (const [method, path, headers, status, expected] of cases) {
    const a = await call(method, path, undefined, headers);
    assert.equal(a.status, status, `${method} ${path} ${JSON.stringify(headers)}: ${a.body}`);
    if (typeof expected === "string") assert.equal(message(a), expected, `${method} ${path}`);
    else assert.match(message(a), expected, `${method} ${path}`);
  }
  const plugins = await new Promise<string>((resolve, reject) => {
    request({ socketPath, path: "/v1.47/plugins" }, (res) => {
      let s = "";
      res.on("data", (c: Buffer) => (s += c.toString()));
      res.on("end", () => resolve(s));
    })
      .on("error", reject)
      .end();
  });
  assert.deepEqual(JSON.parse(plugins), []);
  const cancel = await call("POST", "/v1.47/build/cancel?id=nothing-running");
  assert.equal(cancel.status, 200, "cancelling a build that is not running is not an error, as in dockerd");
});

/** A WebSocket client frame: masked, as RFC 6455 requires of clients. */
function clientFrame(opcode: number, payload: Buffer): Buffer {
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length]), mask, masked]);
}

/** Opens attach/ws, sends `input` as one binary message, and collects the messages until the server closes. */
function attachWs(path: string, input?: Buffer, closeAfter?: (text: string) => boolean): Promise<{ opcodes: number[]; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({
      socketPath,
      path,
      agent: false,
      headers: UPGRADES.ContainerAttachWebsocket,
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`${path}: the WebSocket did not close in time`));
    }, 15_000);
    req.on("response", (res) => reject(new Error(`${path}: no upgrade, status ${res.statusCode}`)));
    req.on("error", reject);
    req.on("upgrade", (res, socket: Socket, head: Buffer) => {
      assert.equal(res.statusCode, 101);
      assert.equal(res.headers["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "RFC 6455's accept for its sample key");
      let buf = head;
      const opcodes: number[] = [];
      let text = "";
      let closing = false;
      const parse = () => {
        while (buf.length >= 2 && buf.length >= 2 + (buf[1]! & 0x7f)) {
          const len = buf[1]! & 0x7f; // the test's messages are short (< 126 bytes)
          opcodes.push(buf[0]! & 0x0f);
          if ((buf[0]! & 0x0f) !== 0x8) text += buf.subarray(2, 2 + len).toString();
          buf = buf.subarray(2 + len);
        }
        if (!closing && closeAfter?.(text)) {
          closing = true;
          socket.write(clientFrame(0x8, Buffer.from([0x03, 0xe8])));
        }
      };
      socket.on("data", (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        parse();
      });
      socket.on("close", () => {
        clearTimeout(timer);
        resolve({ opcodes, text });
      });
      parse();
      if (input) socket.write(clientFrame(0x2, input));
    });
    req.end();
  });
}

test("attach over WebSocket: stdin as messages in, output as binary messages out, logs replayed", async () => {
  const cat = await rt.containers.create({ Image: "busybox", Cmd: ["cat"], OpenStdin: true }, "coverage-ws-cat");
  await rt.containers.start(cat.Id);
  try {
    const echoed = await attachWs(
      "/v1.47/containers/coverage-ws-cat/attach/ws?stream=1&stdin=1&stdout=1&stderr=1",
      Buffer.from("ping over websocket\n"),
      (text) => text.includes("ping over websocket"),
    );
    assert.equal(echoed.text, "ping over websocket\n");
    assert.equal(echoed.opcodes[0], 0x2, "binary messages from API 1.28");
    assert.equal(echoed.opcodes.at(-1), 0x8, "the server answers the close");
  } finally {
    await rt.containers.remove(cat.Id, { force: true });
  }
  const echo = await rt.containers.create({ Image: "busybox", Cmd: ["echo", "hello from logs"] }, "coverage-ws-logs");
  await rt.containers.start(echo.Id);
  await rt.containers.wait(echo.Id, "not-running");
  try {
    const replay = await attachWs("/v1.27/containers/coverage-ws-logs/attach/ws?logs=1");
    assert.equal(replay.text, "hello from logs\n");
    assert.deepEqual(replay.opcodes, [0x1, 0x8], "text messages before API 1.28, then the close");
  } finally {
    await rt.containers.remove(echo.Id, { force: true });
  }
});

test("WebSocket frames from clients: split across reads, masked or not, bounded in size", () => {
  const reader = new FrameReader();
  const frame = clientFrame(0x2, Buffer.from("split frame"));
  assert.deepEqual(reader.feed(frame.subarray(0, 3)), [], "a partial frame waits for the rest");
  const [f] = reader.feed(frame.subarray(3));
  assert.equal(f?.opcode, 0x2);
  assert.equal(f?.payload.toString(), "split frame");
  assert.deepEqual(
    reader.feed(Buffer.from([0x89, 0x02, 0x68, 0x69])).map((x) => [x.opcode, x.payload.toString()]),
    [[0x9, "hi"]],
    "an unmasked ping",
  );
  const huge = Buffer.alloc(10);
  huge[0] = 0x82;
  huge[1] = 0xff;
  huge.writeBigUInt64BE(BigInt(MAX_WS_FRAME + 1), 2);
  assert.throws(
    () => new FrameReader().feed(huge),
    (e: unknown) => e instanceof WebSocketProtocolError && e.code === 1009,
  );
  assert.throws(() => new FrameReader().feed(Buffer.from([0x83, 0x00])), /unknown opcode 3/);
});
