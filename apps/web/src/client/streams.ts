"use client";
/*
 * The dashboard's end of /api/streams/<kind> (see @berth/api streams.ts): one WebSocket per
 * stream, the session cookie for auth. Each message is acknowledged once the handler has taken
 * it, so the server sends no more than the window ahead; a paused stream stops acknowledging
 * and the agent stops reading.
 */
export interface BrowserStreamOptions<T> {
  kind: "logs" | "stats" | "exec" | "events" | "service-logs" | "build-logs";
  /** None for the fleet-wide events feed and a service's logs. */
  hostId?: string;
  params?: Record<string, string | number | boolean | undefined>;
  window?: number;
  onData(data: T): void;
  onEnd?(error: { code: string; message: string } | null): void;
  onOpen?(): void;
}

export interface BrowserStream {
  send(msg: { t: "input"; data: string } | { t: "resize"; cols: number; rows: number }): void;
  /** Stops acknowledging: the server (and the agent behind it) wait. */
  pause(): void;
  resume(): void;
  close(): void;
}

export function openStream<T>(o: BrowserStreamOptions<T>): BrowserStream {
  const url = new URL(`/api/streams/${o.kind}`, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  if (o.hostId) url.searchParams.set("hostId", o.hostId); // none: the fleet-wide events feed
  if (o.window) url.searchParams.set("window", String(o.window));
  for (const [k, v] of Object.entries(o.params ?? {})) if (v !== undefined && v !== "") url.searchParams.set(k, String(v));
  const ws = new WebSocket(url);
  let paused = false;
  let owed = 0;
  let ended = false;
  const end = (error: { code: string; message: string } | null) => {
    if (ended) return;
    ended = true;
    o.onEnd?.(error);
  };
  const ack = () => {
    if (owed > 0 && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ t: "ack", n: owed }));
    owed = 0;
  };
  ws.onopen = () => o.onOpen?.();
  ws.onmessage = (ev) => {
    const msg = JSON.parse(String(ev.data)) as { t: "data"; d: T } | { t: "end"; error?: { code: string; message: string } };
    if (msg.t === "end") return end(msg.error ?? null);
    o.onData(msg.d);
    owed++;
    if (!paused) ack();
  };
  // A refused upgrade shows only as a close without an end message.
  ws.onclose = (ev) => end(ev.code === 1000 ? null : { code: "CLOSED", message: ev.reason || "the stream was refused or lost" });
  return {
    send: (msg) => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify(msg)),
    pause: () => {
      paused = true;
    },
    resume: () => {
      paused = false;
      ack();
    },
    close: () => {
      ended = true;
      ws.close(1000);
    },
  };
}

/**
 * Ends worth opening the stream again for: the connection went (a control-plane process stopped
 * and the load balancer sends the next one elsewhere), the host is re-linking to another process,
 * or the process had lost its database. Refusals (not found, forbidden, invalid) are final.
 */
export function isTransientEnd(err: { code: string } | null): boolean {
  return err !== null && (err.code === "CLOSED" || err.code === "HOST_OFFLINE" || err.code === "UNAVAILABLE");
}

export type FollowStatus = "connecting" | "live" | "reconnecting" | "ended";

export interface FollowedStream {
  pause(): void;
  resume(): void;
  close(): void;
}

/**
 * A stream kept open: after a transient end it is opened again, with the options `attempt` gives
 * then (a log's cursors, say), waiting 0.5 s doubled up to 10 s until data flows again. `onStatus`
 * hears each change; `onEnd` of the options only the final end.
 */
export function followStream<T>(
  attempt: () => BrowserStreamOptions<T>,
  onStatus: (status: FollowStatus, error: string | null) => void,
): FollowedStream {
  let closed = false;
  let paused = false;
  let opened = false;
  let delay = 500;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let current: BrowserStream | null = null;
  const connect = () => {
    const o = attempt();
    onStatus(opened ? "reconnecting" : "connecting", null);
    current = openStream<T>({
      ...o,
      onOpen: () => {
        opened = true;
        onStatus("live", null);
        o.onOpen?.();
      },
      onData: (d) => {
        delay = 500;
        o.onData(d);
      },
      onEnd: (err) => {
        if (closed) return;
        if (isTransientEnd(err)) {
          opened = true;
          onStatus("reconnecting", err!.message);
          retry = setTimeout(connect, delay);
          delay = Math.min(delay * 2, 10_000);
          return;
        }
        onStatus("ended", err?.message ?? null);
        o.onEnd?.(err);
      },
    });
    if (paused) current.pause();
  };
  connect();
  return {
    pause: () => {
      paused = true;
      current?.pause();
    },
    resume: () => {
      paused = false;
      current?.resume();
    },
    close: () => {
      closed = true;
      clearTimeout(retry);
      current?.close();
    },
  };
}
