import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants } from "node:fs";

/*
 * mount(2) and umount2(2) without a process per call. Node cannot make these system calls, and
 * starting mount(8) from the agent costs 10-25 ms each on a small VM: two of them sit on the path
 * of every `docker run --rm`. So one long-lived helper (Debian's python3, standard library only:
 * ctypes calls libc) takes requests on its stdin, one JSON object per line, and answers each on
 * its stdout in order: {"ok": true} or {"errno": N, "error": "..."}. It is our code, started with
 * an argument array; its stdin closing (the agent went away) ends it. When python3 is missing or
 * the helper cannot start, callers fall back to mount(8)/umount(8).
 */
const HELPER = String.raw`
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
def enc(s):
    return None if s is None else s.encode()
out = sys.stdout
for line in sys.stdin:
    r = json.loads(line)
    rc = 0
    try:
        if r.get("cwd"):
            os.chdir(r["cwd"])
        if r["op"] == "mount":
            rc = libc.mount(enc(r["source"]), enc(r["target"]), enc(r.get("fstype")), r["flags"], enc(r.get("data")))
        elif r["op"] == "umount":
            rc = libc.umount2(enc(r["target"]), r["flags"])
        else:
            rc = -1
            ctypes.set_errno(22)
    finally:
        os.chdir("/")
    if rc == 0:
        out.write('{"ok":true}\n')
    else:
        e = ctypes.get_errno()
        out.write(json.dumps({"errno": e, "error": os.strerror(e)}) + "\n")
    out.flush()
`;
import { AgentError } from "../errors.ts";

/** Linux mount(2) flags this helper is asked for. */
export const MS = {
  RDONLY: 1,
  NOSUID: 2,
  NODEV: 4,
  NOEXEC: 8,
  REMOUNT: 32,
  NOATIME: 1024,
  NODIRATIME: 2048,
  BIND: 4096,
  REC: 16384,
  PRIVATE: 1 << 18,
  RELATIME: 1 << 21,
  STRICTATIME: 1 << 24,
} as const;
export const MNT_DETACH = 2;

/** A failed system call, with its errno name as the kernel gave it. */
export class SyscallError extends AgentError {
  override name = "SyscallError";
  constructor(
    readonly call: string,
    readonly errno: number,
    message: string,
  ) {
    super(`${call}: ${message}`, "FAILED");
  }
}

/** The helper itself is unusable (python3 missing, crashed): the caller should use mount(8). */
export class HelperUnavailableError extends AgentError {
  override name = "HelperUnavailableError";
  constructor(message: string) {
    super(message, "FAILED");
  }
}

export type SyscallRequest =
  | { op: "mount"; source: string; target: string; fstype: string | null; flags: number; data: string | null; cwd?: string }
  | { op: "umount"; target: string; flags: number };

interface Pending {
  call: string;
  resolve: () => void;
  reject: (e: Error) => void;
}

function findPython(): string | undefined {
  for (const p of ["/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3"]) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

let child: ChildProcess | undefined;
let pending: Pending[] = [];
let unavailable = false;
let enabled = true;
/** Off, every call goes through mount(8) (the agent's BERTH_MOUNT_HELPER=0; tests compare both paths). */
export function setMountHelper(on: boolean): void {
  enabled = on;
}
const disabled = () => !enabled;

function failAll(e: Error): void {
  const list = pending;
  pending = [];
  for (const p of list) p.reject(e);
}

function helper(): ChildProcess {
  if (child && child.exitCode === null && child.signalCode === null) return child;
  const python = unavailable ? undefined : findPython();
  if (!python) {
    unavailable = true;
    throw new HelperUnavailableError("python3 is not installed");
  }
  const c = spawn(python, ["-c", HELPER], { stdio: ["pipe", "pipe", "pipe"] });
  let diag = "";
  let buf = "";
  c.stderr!.on("data", (d: Buffer) => (diag = (diag + d.toString("utf8")).slice(-2048)));
  c.stdout!.on("data", (d: Buffer) => {
    buf += d.toString("utf8");
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const p = pending.shift();
      if (!p) continue;
      const answer = JSON.parse(line) as { ok?: true; errno?: number; error?: string };
      if (answer.ok) p.resolve();
      else p.reject(new SyscallError(p.call, answer.errno ?? 0, answer.error ?? "failed"));
    }
  });
  c.stdin!.on("error", () => undefined);
  c.on("error", (e) => {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") unavailable = true;
    failAll(new HelperUnavailableError(`mount helper: ${e.message}`));
  });
  c.on("exit", (code, signal) => {
    if (child === c) child = undefined;
    failAll(new HelperUnavailableError(`mount helper exited (${signal ?? code}): ${diag.trim() || "no diagnostics"}`));
  });
  idle(c);
  child = c;
  return c;
}

/** An idle helper never keeps the agent's event loop alive; a busy one does, until it answers. */
function idle(c: ChildProcess): void {
  c.unref();
  for (const s of [c.stdin, c.stdout, c.stderr]) (s as unknown as { unref?: () => void } | null)?.unref?.();
}

function busy(c: ChildProcess): void {
  c.ref();
  for (const s of [c.stdin, c.stdout, c.stderr]) (s as unknown as { ref?: () => void } | null)?.ref?.();
}

/** Makes one system call through the helper. Rejects with SyscallError, or HelperUnavailableError to say "use mount(8)". */
export function syscall(req: SyscallRequest): Promise<void> {
  if (unavailable || disabled()) return Promise.reject(new HelperUnavailableError("mount helper unavailable"));
  let c: ChildProcess;
  try {
    c = helper();
  } catch (e) {
    return Promise.reject(e);
  }
  const call = `${req.op} ${req.target}`;
  return new Promise<void>((resolve, reject) => {
    const settle = () => {
      if (pending.length === 0 && child === c) idle(c);
    };
    pending.push({
      call,
      resolve: () => {
        resolve();
        settle();
      },
      reject: (e) => {
        reject(e);
        settle();
      },
    });
    busy(c);
    c.stdin!.write(`${JSON.stringify(req)}\n`);
  });
}

/** Starts the helper ahead of the first mount, so a container start does not wait for python. */
export function warmMountHelper(): void {
  try {
    if (!unavailable && !disabled()) helper();
  } catch {
    // mount(8) it is
  }
}
