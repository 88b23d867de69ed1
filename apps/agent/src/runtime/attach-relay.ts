import { spawn, type ChildProcess } from "node:child_process";
import type { Writable } from "node:stream";

/*
 * Attaching to a container's stdio through conmon. conmon serves every attach client on a
 * SOCK_SEQPACKET unix socket (`attach` in the bundle): each packet it sends is one read of the
 * container's output, its first byte naming the stream (2 stdout, 3 stderr); each packet it
 * receives goes to the container's stdin. Node has no SEQPACKET sockets, so this small relay
 * (Debian's python3, standard library only) copies packets to its stdout as frames
 * `[stream, 0, 0, 0, size (u32 BE)] + data` (an empty frame 0 says it is connected), and its stdin to the
 * socket. It connects relative to the bundle, so a long state-dir path cannot pass the 108-byte
 * limit of unix socket paths. It is our code, run with an argument array, never a shell.
 *
 * Starting python3 takes tens of milliseconds, on the path of every `docker run` that attaches;
 * so one relay is kept started ahead, waiting on its stdin for the line that says where to
 * connect ("<bundle>\t<0|1>\n"). Its stdin closing (the agent went away) ends it.
 */
const RELAY = String.raw`
import os, socket, struct, sys, threading
line = b""
while not line.endswith(b"\n"):
    c = os.read(0, 1)
    if not c:
        sys.exit(0)
    line += c
bundle, want = line[:-1].decode().split("\t")
want_stdin = want == "1"
os.chdir(bundle)
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
try:
    s.connect("attach")
except OSError as e:
    sys.stderr.write("cannot attach: %s\n" % e.strerror)
    sys.exit(2)
sys.stdout.buffer.write(b"\x00\x00\x00\x00\x00\x00\x00\x00")  # connected
sys.stdout.buffer.flush()
def pump_output():
    out = sys.stdout.buffer
    while True:
        try:
            b = s.recv(65536)
        except OSError:
            b = b""
        if not b:
            break
        out.write(struct.pack(">BxxxI", b[0], len(b) - 1) + b[1:])
        out.flush()
    os._exit(0)
threading.Thread(target=pump_output, daemon=True).start()
if want_stdin:
    while True:
        d = os.read(0, 4096)
        if not d:
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            break
        try:
            s.sendall(d)
        except OSError:
            break
threading.Event().wait()
`;

export interface AttachFrame {
  stream: "stdout" | "stderr";
  data: Buffer;
}

export interface AttachRelay {
  child: ChildProcess;
  /** Resolves once the relay is connected (output from then on is delivered); rejects if it cannot connect. */
  connected: Promise<void>;
  /** Written bytes go to the container's stdin; end() closes it (unless conmon keeps stdin open). */
  input: Writable;
  /** Called for each chunk of the container's output, in order. */
  onFrame(fn: (f: AttachFrame) => void): void;
  /** Resolves when the relay has ended (the container exited, or the relay was stopped). */
  ended: Promise<void>;
  stop(): void;
}

const warm = new Map<string, ChildProcess>();

function startRelay(python: string): ChildProcess {
  const child = spawn(python, ["-c", RELAY], { stdio: ["pipe", "pipe", "pipe"] });
  child.stdin!.on("error", () => undefined);
  child.on("error", () => undefined);
  return child;
}

/** Starts the relay for the next attach, once this one is under way: a spawn costs milliseconds. */
function replenish(python: string): void {
  setTimeout(() => {
    if (warm.has(python)) return;
    const next = startRelay(python);
    // A relay waiting in reserve never keeps the agent's event loop alive.
    for (const s of [next.stdin, next.stdout, next.stderr]) (s as unknown as { unref?: () => void } | null)?.unref?.();
    next.unref();
    next.once("exit", () => {
      if (warm.get(python) === next) warm.delete(python);
    });
    warm.set(python, next);
  }, 20).unref();
}

/** The relay started ahead, or a new one when there is none. */
function takeRelay(python: string): ChildProcess {
  let child = warm.get(python);
  warm.delete(python);
  if (!child || child.exitCode !== null || child.signalCode !== null) child = startRelay(python);
  else {
    child.ref();
    for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as { ref?: () => void } | null)?.ref?.();
  }
  replenish(python);
  return child;
}

/** Connects to the attach socket in `bundle`. With `stdin` false the relay never writes to the container. */
export function attachRelay(o: { python: string; bundle: string; stdin: boolean }): AttachRelay {
  if (/[\t\n]/.test(o.bundle)) throw new Error("a bundle path with a tab or newline cannot be attached to");
  const child = takeRelay(o.python);
  child.stdin!.write(`${o.bundle}\t${o.stdin ? "1" : "0"}\n`);
  let diag = "";
  child.stderr!.on("data", (d: Buffer) => (diag = (diag + d.toString("utf8")).slice(-2048)));
  const listeners: Array<(f: AttachFrame) => void> = [];
  let buf: Buffer = Buffer.alloc(0);
  let isConnected = false;
  let resolveConnected!: () => void;
  let rejectConnected!: (e: Error) => void;
  const connected = new Promise<void>((res, rej) => {
    resolveConnected = res;
    rejectConnected = rej;
  });
  child.stdout!.on("data", (d: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    while (buf.length >= 8) {
      const size = buf.readUInt32BE(4);
      if (buf.length < 8 + size) break;
      const kind = buf[0];
      const data = buf.subarray(8, 8 + size);
      buf = buf.subarray(8 + size);
      if (kind === 0) {
        isConnected = true;
        resolveConnected();
      } else if (data.length > 0) {
        // conmon's pipe numbers: 2 stdout, 3 stderr.
        const frame: AttachFrame = { stream: kind === 3 ? "stderr" : "stdout", data };
        for (const fn of listeners) fn(frame);
      }
    }
  });
  const ended = new Promise<void>((resolve) => {
    child.on("close", () => {
      if (!isConnected) rejectConnected(new Error(diag.trim() || "cannot attach to the container"));
      resolve();
    });
    child.on("error", (e) => {
      if (!isConnected) rejectConnected(e);
      resolve();
    });
  });
  connected.catch(() => undefined);
  return {
    child,
    connected,
    input: child.stdin!,
    onFrame: (fn) => listeners.push(fn),
    ended,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    },
  };
}
