import { EventEmitter } from "node:events";
import type { ContainerRecord } from "./record.ts";

/** One Docker-style event, numbered: the link and the Docker API read the same ordered stream. */
export interface AgentEvent {
  seq: number;
  Type: "container" | "image" | "network" | "volume";
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: "local";
  time: number;
  timeNano: number;
}

/** An ordered event stream with sequence numbers and a bounded backlog for late readers. */
export class EventLog {
  private seq = 0;
  private readonly backlog: AgentEvent[] = [];
  private readonly emitter = new EventEmitter();

  /** `lastSeq`: numbering goes on after it (the outbox's, so numbers survive a restart). */
  constructor(
    private readonly keep = 10_000,
    lastSeq = 0,
  ) {
    this.seq = lastSeq;
    this.emitter.setMaxListeners(0);
  }

  emit(type: AgentEvent["Type"], action: string, id: string, attributes: Record<string, string> = {}): AgentEvent {
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const ev: AgentEvent = {
      seq: ++this.seq,
      Type: type,
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      scope: "local",
      time: Number(nowNs / 1_000_000_000n),
      timeNano: Number(nowNs),
    };
    this.backlog.push(ev);
    if (this.backlog.length > this.keep) this.backlog.shift();
    this.emitter.emit("event", ev);
    return ev;
  }

  /** Events after `afterSeq` still in the backlog. */
  since(afterSeq: number): AgentEvent[] {
    return this.backlog.filter((e) => e.seq > afterSeq);
  }

  subscribe(fn: (e: AgentEvent) => void): () => void {
    this.emitter.on("event", fn);
    return () => this.emitter.off("event", fn);
  }
}

/** Emits a container event with Docker's attributes: the image, the name and the container's labels. */
export function emitContainerEvent(log: EventLog, action: string, rec: ContainerRecord, extra: Record<string, string> = {}): void {
  log.emit("container", action, rec.id, { image: rec.imageName, name: rec.name, ...(rec.config.Labels ?? {}), ...extra });
}
