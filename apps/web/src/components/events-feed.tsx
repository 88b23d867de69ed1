"use client";
import { useEffect, useRef, useState } from "react";
import Link from "next/link";
import { followStream } from "../client/streams";

interface FeedEvent {
  hostId?: string;
  hostName?: string;
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  timeNano: number;
}

/** An event with the number it arrived as: a stable key while newer events are put on top. */
interface Row extends FeedEvent {
  seq: number;
}

const KEEP = 500;

/** What tells two events apart: the same event heard again after a reconnect has the same key. */
const keyOf = (e: FeedEvent) => `${e.hostId ?? ""}|${e.Type}|${e.Action}|${e.Actor.ID}|${e.timeNano}`;

/** The label Swarm (and Berth) put on a service's task containers, carried in their events. */
const SERVICE_LABEL = "com.docker.swarm.service.id";

/** Live events, newest first: one host's (hostId) or the whole fleet's (none); a service's tasks' only with `serviceId`. */
export function EventsFeed({ hostId, serviceId }: { hostId?: string; serviceId?: string }) {
  const [events, setEvents] = useState<Row[]>([]);
  const arrived = useRef(0);
  const [dropped, setDropped] = useState(0);
  const [state, setState] = useState("connecting");
  useEffect(() => {
    // Kept open across a control-plane process's loss; the fleet feed opens with recent history,
    // so what is already shown is not shown twice.
    const stream = followStream<{ events: FeedEvent[]; dropped?: number }>(
      () => ({
        kind: "events",
        hostId: hostId ?? "",
        onData: (d) => {
          const wanted = serviceId ? d.events.filter((e) => e.Actor.Attributes[SERVICE_LABEL] === serviceId) : d.events;
          setEvents((prev) => {
            const shown = new Set(prev.map(keyOf));
            const rows = wanted.filter((e) => !shown.has(keyOf(e))).map((e) => ({ ...e, seq: arrived.current++ }));
            return [...rows.reverse(), ...prev].slice(0, KEEP);
          });
          if (d.dropped) setDropped((n) => n + d.dropped!);
        },
      }),
      (status, err) => setState(err ?? status),
    );
    return () => stream.close();
  }, [hostId, serviceId]);
  return (
    <div className="space-y-2 text-sm">
      <p className="text-slate-500" data-testid="events-state" data-state={state}>
        {state}
        {dropped ? ` · ${dropped} events skipped while this page was behind` : ""}
      </p>
      <table className="w-full" data-testid="events-feed">
        <tbody>
          {events.map((e) => (
            <tr key={e.seq} className="border-t border-slate-100" data-testid="event-row" data-action={e.Action}>
              <td className="py-1 pr-3 text-slate-500">{new Date(e.timeNano / 1e6).toLocaleTimeString()}</td>
              {!hostId && (
                <td className="pr-3">
                  <Link className="hover:underline" href={`/hosts/${e.hostId}`}>
                    {e.hostName}
                  </Link>
                </td>
              )}
              <td className="pr-3">{e.Type}</td>
              <td className="pr-3 font-mono text-xs">{e.Action}</td>
              <td className="truncate">{e.Actor.Attributes.name ?? e.Actor.ID.slice(0, 12)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {events.length === 0 && <p className="text-slate-500">No events since this page opened.</p>}
    </div>
  );
}
