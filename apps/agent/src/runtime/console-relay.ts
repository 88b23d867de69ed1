import { spawn, type ChildProcess } from "node:child_process";
import type { Readable, Writable } from "node:stream";

/*
 * A TTY for `runc exec -t`: runc hands the pseudo-terminal's master over a unix socket with
 * SCM_RIGHTS, which Node cannot receive. This small relay (Debian's python3, standard library
 * only) receives it and copies bytes between the master and its own stdio; resizes come
 * in as "rows cols" lines on fd 3. It is our code, run with an argument array, never a shell.
 */
const RELAY = String.raw`
import ctypes, fcntl, os, select, socket, struct, subprocess, sys, termios
sock_path, runc, root, cid, spec, pid_file = sys.argv[1:7]
# PR_SET_CHILD_SUBREAPER: the detached exec process is reparented to us, so we can wait for it.
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(sock_path)
srv.listen(1)
srv.settimeout(30)
runner = subprocess.Popen(
    [runc, "--root", root, "exec", "--detach", "--console-socket", sock_path, "--pid-file", pid_file, "--process", spec, cid],
    stdin=subprocess.DEVNULL,
)
try:
    conn, _ = srv.accept()
    _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    conn.close()
except (socket.timeout, OSError):
    fds = []
srv.close()
os.unlink(sock_path)
rc = runner.wait()
if rc != 0 or not fds:
    sys.exit(rc or 126)
master = fds[0]
pid = int(open(pid_file).read().strip())
ctl = os.fdopen(3, "rb", buffering=0)
inputs = [0, master, ctl]
pending = b""
status = None
while True:
    r, _, _ = select.select(inputs, [], [], 0.1)
    if master in r:
        try:
            data = os.read(master, 65536)
        except OSError:
            data = b""
        if data:
            os.write(1, data)
        else:
            inputs.remove(master)
    if 0 in r:
        data = os.read(0, 65536)
        if data:
            os.write(master, data)
        else:
            inputs.remove(0)
    if ctl in r:
        data = ctl.read(256)
        if not data:
            inputs.remove(ctl)
        else:
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                rows, cols = (int(x) for x in line.split())
                fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    if status is None:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
    # Exited, and everything it wrote has been copied out.
    if status is not None and (master not in inputs or master not in r):
        break
sys.exit(os.waitstatus_to_exitcode(status) if os.waitstatus_to_exitcode(status) >= 0 else 128 - os.waitstatus_to_exitcode(status))
`;

export interface TtyExec {
  child: ChildProcess;
  /** The relay's own diagnostics (a Python traceback if it failed), for error messages. */
  diagnostics(): string;
  input: Writable;
  output: Readable;
  resize(rows: number, cols: number): void;
}

/** Runs `runc exec --tty` for `processSpec` through the relay; the child's exit code is the process's. */
export function execWithTty(o: {
  python: string;
  runc: string;
  root: string;
  id: string;
  processSpec: string;
  socketPath: string;
  pidFile: string;
}): TtyExec {
  const child = spawn(o.python, ["-c", RELAY, o.socketPath, o.runc, o.root, o.id, o.processSpec, o.pidFile], {
    stdio: ["pipe", "pipe", "pipe", "pipe"],
  });
  const ctl = child.stdio[3] as Writable;
  ctl.on("error", () => undefined);
  let diag = "";
  child.stderr?.on("data", (d: Buffer) => (diag = (diag + d.toString("utf8")).slice(-4096)));
  return {
    child,
    diagnostics: () => diag,
    input: child.stdin!,
    output: child.stdout!,
    resize: (rows, cols) => {
      if (Number.isInteger(rows) && Number.isInteger(cols) && rows > 0 && cols > 0 && rows < 10_000 && cols < 10_000)
        ctl.write(`${rows} ${cols}\n`);
    },
  };
}
