"use client";
import { useEffect, useRef, useState } from "react";
import "@xterm/xterm/css/xterm.css";
import { openStream } from "../client/streams";
import { Button } from "./ui";

const SHELLS = ["/bin/sh", "/bin/bash", "/bin/ash", "/bin/zsh"];

/**
 * A shell in the container (exec with a TTY) in xterm.js: keystrokes and resizes go up the
 * stream, output comes down. Copy with the selection, paste with the browser's paste; a shell
 * the image lacks falls back to /bin/sh on the agent.
 */
export function ContainerTerminal({ hostId, containerId }: { hostId: string; containerId: string }) {
  const el = useRef<HTMLDivElement>(null);
  const [shell, setShell] = useState("/bin/sh");
  const [session, setSession] = useState(0);
  const [state, setState] = useState<"connecting" | "open" | "closed">("connecting");
  const [note, setNote] = useState<string | null>(null);

  // biome-ignore lint/correctness/useExhaustiveDependencies: session is the trigger: Reconnect bumps it to open a new shell
  useEffect(() => {
    let disposed = false;
    let cleanup = () => {};
    void (async () => {
      // xterm touches `window` on import: load it in the browser only.
      const [{ Terminal }, { FitAddon }] = await Promise.all([import("@xterm/xterm"), import("@xterm/addon-fit")]);
      if (disposed || !el.current) return;
      const term = new Terminal({ cursorBlink: true, fontSize: 13, fontFamily: "ui-monospace, monospace", convertEol: false });
      const fit = new FitAddon();
      term.loadAddon(fit);
      term.open(el.current);
      fit.fit();
      setState("connecting");
      setNote(null);
      const stream = openStream<{ o?: string; exit?: number }>({
        kind: "exec",
        hostId,
        window: 16,
        params: { id: containerId, cmd: shell, cols: term.cols, rows: term.rows },
        onOpen: () => setState("open"),
        onData: (d) => {
          if (d.o) term.write(d.o);
          if (d.exit !== undefined) setNote(`process exited with code ${d.exit}`);
        },
        onEnd: (err) => {
          setState("closed");
          if (err) setNote(err.message);
        },
      });
      const input = term.onData((data) => stream.send({ t: "input", data }));
      const resize = term.onResize(({ cols, rows }) => stream.send({ t: "resize", cols, rows }));
      const observer = new ResizeObserver(() => fit.fit());
      observer.observe(el.current);
      term.focus();
      cleanup = () => {
        observer.disconnect();
        input.dispose();
        resize.dispose();
        stream.close();
        term.dispose();
      };
    })();
    return () => {
      disposed = true;
      cleanup();
    };
  }, [hostId, containerId, shell, session]);

  return (
    <div className="space-y-2">
      <div className="flex items-center gap-2 text-sm">
        <select
          aria-label="Shell"
          value={shell}
          onChange={(e) => setShell(e.target.value)}
          className="rounded border border-slate-300 px-2 py-1"
        >
          {SHELLS.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
        <Button variant="secondary" onClick={() => setSession((n) => n + 1)}>
          Reconnect
        </Button>
        <span className="text-slate-500" data-testid="terminal-state" data-state={state}>
          {state}
          {note ? ` · ${note}` : ""}
        </span>
      </div>
      <div ref={el} className="h-[28rem] rounded bg-black p-1" data-testid="terminal" />
    </div>
  );
}
