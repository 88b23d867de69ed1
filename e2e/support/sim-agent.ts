// A protocol-level agent for tests and benchmarks: speaks the link protocol with raw frames, so
// tests can also send what a real agent never would (bad JSON, oversized frames).
import { WebSocket } from "ws";
import { AGENT_PATHS, type JoinResponse } from "@berth/protocol";
import { fakeFacts } from "./facts.ts";

export async function joinWithToken(url: string, token: string, name: string): Promise<{ status: number; body: JoinResponse | { error: string } }> {
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
  /** The last commands the control plane sent, with their arguments (each answered with a pong). */
  commands: Array<{ command: string; args: unknown }>;
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
  ws.on("message", (data) => {
    const frame = JSON.parse(data.toString()) as { type: string; id?: string; command?: string; args?: unknown };
    if (frame.type === "welcome") onWelcome();
    if (frame.type === "command" && frame.id) {
      commands.push({ command: frame.command ?? "", args: frame.args });
      if (commands.length > 100) commands.shift();
      ws.send(JSON.stringify({ type: "reply", id: frame.id, ok: true, result: { pong: true, command: frame.command } }));
    }
  });
  const send = (f: unknown) => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify(f));
  return {
    ws,
    opened,
    welcomed,
    closed,
    commands,
    hello: () => send({ type: "hello", v: 1, agentVersion: "0.1.0-sim", facts: fakeFacts(name) }),
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
