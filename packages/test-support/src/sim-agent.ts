// A protocol-level agent for tests and benchmarks: speaks the link protocol with raw frames, so
// tests can also send what a real agent never would (bad JSON, oversized frames, malformed replies).
import { WebSocket } from "ws";
import {
  AGENT_PATHS,
  parseServerFrame,
  type CommandName,
  type CommandReplyInput,
  type JoinResponse,
  type StreamKind,
} from "@berth/protocol";
import { fakeFacts } from "./facts.ts";

const SIM_AGENT_VERSION = "0.1.0-sim";

/** What the sim answers `images.pull` with. */
export const SIM_PULLED_IMAGE = {
  id: `sha256:${"5".repeat(64)}`,
  repoTags: [],
  repoDigests: [],
  size: 0,
} satisfies CommandReplyInput<"images.pull">;

const ok = () => ({ ok: true as const });

/** A container inspect reply with the fields the protocol requires (tests add HostConfig and the like). */
export const SIM_INSPECT = {
  Id: "c".repeat(64),
  Name: "/sim",
  Created: "2026-01-01T00:00:00Z",
  Image: `sha256:${"1".repeat(64)}`,
  RestartCount: 0,
  State: {
    Status: "created",
    Running: false,
    Paused: false,
    Restarting: false,
    OOMKilled: false,
    Dead: false,
    Pid: 0,
    ExitCode: 0,
    Error: "",
    StartedAt: "0001-01-01T00:00:00Z",
    FinishedAt: "0001-01-01T00:00:00Z",
  },
  Config: { Image: "busybox", Labels: {} },
} satisfies CommandReplyInput<"containers.inspect">;

/**
 * The sim's default answers: well-formed replies (checked against the protocol's reply schemas
 * at compile time) for the commands tests send it. Anything else is refused as unknown.
 */
const SIM_REPLIES: Partial<Record<string, () => unknown>> = {
  ping: () => ({ pong: true, at: Date.now(), agentVersion: SIM_AGENT_VERSION }),
  "images.list": () => [],
  "images.pull": () => SIM_PULLED_IMAGE,
  "images.tag": ok,
  "containers.list": () => [],
  "containers.create": () => ({ Id: "c".repeat(64), Warnings: [] }),
  "containers.start": ok,
  "containers.stop": ok,
  "containers.restart": ok,
  "containers.kill": ok,
  "containers.pause": ok,
  "containers.unpause": ok,
  "containers.remove": ok,
  "containers.rename": ok,
  "volumes.list": () => [],
  "volumes.remove": ok,
  "networks.list": () => [],
  "networks.remove": ok,
  "networks.connect": ok,
  "networks.disconnect": ok,
} satisfies { [C in CommandName]?: () => CommandReplyInput<C> };

export interface SimCommand {
  id: string;
  command: string;
  args: unknown;
}

/** The frames a responder may send for one command. */
export interface SimAnswer {
  reply(result: unknown): void;
  fail(code: string, message: string): void;
  progress(data: unknown): void;
}

/** How the sim answers a command; set `SimAgent.respond` to script answers (malformed, slow, none). */
export type SimResponder = (command: SimCommand, answer: SimAnswer) => void;

/** Answers as a real agent would, from SIM_REPLIES. */
export const defaultResponder: SimResponder = (c, answer) => {
  const make = SIM_REPLIES[c.command];
  if (make) answer.reply(make());
  else answer.fail("UNKNOWN_COMMAND", `the sim agent does not answer ${c.command}; script it with respond`);
};

export async function joinWithToken(
  url: string,
  token: string,
  name: string,
): Promise<{ status: number; body: JoinResponse | { error: string } }> {
  const res = await fetch(`${url}${AGENT_PATHS.join}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token, name, agentVersion: "0.1.0-sim", facts: fakeFacts(name) }),
  });
  return { status: res.status, body: (await res.json()) as JoinResponse | { error: string } };
}

export interface SimAgent {
  ws: WebSocket;
  /** Resolves with the HTTP status when the upgrade is refused, or "open" when it succeeds. */
  opened: Promise<number | "open">;
  welcomed: Promise<void>;
  closed: Promise<{ code: number; reason: string }>;
  /** The last commands the control plane sent, with their arguments. */
  commands: Array<{ command: string; args: unknown }>;
  /** Answers each command; defaultResponder until a test replaces it. */
  respond: SimResponder;
  /** Streams the control plane opened (the sim sends nothing on them by itself; use sendRaw). */
  streams: Array<{ id: string; kind: StreamKind; args: unknown; credit: number }>;
  /** Ids of the streams the control plane closed. */
  closedStreams: string[];
  hello(): void;
  heartbeat(): void;
  sendRaw(data: string | Buffer): void;
  startHeartbeats(ms: number): void;
  close(): void;
}

export function connectSimAgent(url: string, credential: string, name = "sim"): SimAgent {
  const ws = new WebSocket(`${url.replace(/^http/, "ws")}${AGENT_PATHS.link}`, { headers: { authorization: `Bearer ${credential}` } });
  let timer: NodeJS.Timeout | null = null;
  let onWelcome!: () => void;
  const welcomed = new Promise<void>((r) => (onWelcome = r));
  const opened = new Promise<number | "open">((resolve) => {
    ws.once("open", () => resolve("open"));
    ws.once("unexpected-response", (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once("error", () => resolve(0));
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on("close", (code, reason) => {
      if (timer) clearInterval(timer);
      resolve({ code, reason: reason.toString() });
    });
  });
  ws.on("error", () => {});
  const commands: Array<{ command: string; args: unknown }> = [];
  const send = (f: unknown) => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify(f));
  const agent: SimAgent = {
    ws,
    opened,
    welcomed,
    closed,
    commands,
    respond: defaultResponder,
    streams: [],
    closedStreams: [],
    hello: () => send({ type: "hello", v: 1, agentVersion: SIM_AGENT_VERSION, facts: fakeFacts(name) }),
    heartbeat: () => send({ type: "heartbeat", at: Date.now() }),
    sendRaw: (d) => ws.readyState === WebSocket.OPEN && ws.send(d),
    startHeartbeats(ms) {
      timer = setInterval(() => send({ type: "heartbeat", at: Date.now() }), ms);
    },
    close() {
      if (timer) clearInterval(timer);
      ws.close();
    },
  };
  ws.on("message", (data) => {
    const parsed = parseServerFrame(data.toString());
    if (!parsed.ok) return;
    const frame = parsed.frame;
    if (frame.type === "welcome") onWelcome();
    else if (frame.type === "command") {
      commands.push({ command: frame.command, args: frame.args });
      if (commands.length > 100) commands.shift();
      const { id } = frame;
      agent.respond(
        { id, command: frame.command, args: frame.args },
        {
          reply: (result) => send({ type: "reply", id, ok: true, result }),
          fail: (code, message) => send({ type: "reply", id, ok: false, error: { code, message } }),
          progress: (d) => send({ type: "progress", id, data: d }),
        },
      );
    } else if (frame.type === "stream.open") {
      agent.streams.push({ id: frame.id, kind: frame.kind, args: frame.args, credit: frame.credit });
      if (agent.streams.length > 100) agent.streams.shift();
    } else if (frame.type === "stream.close") agent.closedStreams.push(frame.id);
  });
  return agent;
}

/** Connects and completes the hello/welcome exchange. */
export async function linkedSimAgent(url: string, credential: string, name = "sim"): Promise<SimAgent> {
  const a = connectSimAgent(url, credential, name);
  const opened = await a.opened;
  if (opened !== "open") throw new Error(`agent link refused: HTTP ${opened}`);
  a.hello();
  await a.welcomed;
  return a;
}

/**
 * A responder that keeps containers as a real agent would for service tasks: create (with its
 * labels; a taken name is a conflict), start, inspect, list, stop and remove. The rest as
 * defaultResponder. For the services benchmarks: the reconciler runs tasks on simulated hosts.
 */
export function taskResponder(): SimResponder & {
  containers: Map<string, { Id: string; name: string; labels: Record<string, string>; running: boolean }>;
} {
  const containers = new Map<string, { Id: string; name: string; labels: Record<string, string>; running: boolean }>();
  let next = 0;
  const find = (ref: string) => containers.get(ref) ?? [...containers.values()].find((c) => c.name === ref);
  const respond: SimResponder = (c, answer) => {
    const args = c.args as { id?: string; name?: string; config?: { Labels?: Record<string, string> } };
    switch (c.command) {
      case "containers.create": {
        if (args.name && find(args.name)) return answer.fail("CONFLICT", `container name ${args.name} is in use`);
        const Id = (++next).toString(16).padStart(64, "0");
        containers.set(Id, { Id, name: args.name ?? Id.slice(0, 12), labels: args.config?.Labels ?? {}, running: false });
        return answer.reply({ Id, Warnings: [] });
      }
      case "containers.start":
      case "containers.stop": {
        const ct = find(args.id ?? "");
        if (!ct) return answer.fail("NOT_FOUND", `no such container: ${args.id}`);
        ct.running = c.command === "containers.start";
        return answer.reply({ ok: true });
      }
      case "containers.remove": {
        const ct = find(args.id ?? "");
        if (!ct) return answer.fail("NOT_FOUND", `no such container: ${args.id}`);
        containers.delete(ct.Id);
        return answer.reply({ ok: true });
      }
      case "containers.inspect": {
        const ct = find(args.id ?? "");
        if (!ct) return answer.fail("NOT_FOUND", `no such container: ${args.id}`);
        return answer.reply({
          ...SIM_INSPECT,
          Id: ct.Id,
          Name: `/${ct.name}`,
          State: { ...SIM_INSPECT.State, Status: ct.running ? "running" : "created", Running: ct.running },
          Config: { Image: "busybox", Labels: ct.labels },
        });
      }
      case "containers.list":
        return answer.reply(
          [...containers.values()].map((ct) => ({
            Id: ct.Id,
            Names: [`/${ct.name}`],
            Image: "busybox",
            ImageID: `sha256:${"1".repeat(64)}`,
            Command: "sleep",
            Created: 0,
            State: ct.running ? "running" : "created",
            Status: ct.running ? "Up 1 second" : "Created",
            Labels: ct.labels,
          })),
        );
      default:
        return defaultResponder(c, answer);
    }
  };
  return Object.assign(respond, { containers });
}
