// The body of the log-keeper worker thread. It reacts to conmon's log rotations on its own event
// loop, so a busy agent (a log follower, a pull) cannot delay it past the next rotation.
import { parentPort } from "node:worker_threads";
import { LogKeeper, type LogRotation } from "./rotation.ts";

export type KeeperRequest =
  | { op: "keep"; path: string; ctlFifo: string; rotation: LogRotation }
  | { op: "finish"; path: string; id: number }
  | { op: "check" };
export type KeeperReply = { id: number };

export function serveLogKeeping(): void {
  const port = parentPort;
  if (!port) throw new Error("serveLogKeeping must run in a worker thread");
  const keepers = new Map<string, LogKeeper>();
  port.on("message", (msg: KeeperRequest) => {
    if (msg.op === "keep") {
      if (keepers.has(msg.path)) return;
      const keeper = new LogKeeper(msg.path, msg.ctlFifo, msg.rotation);
      keepers.set(msg.path, keeper);
      try {
        keeper.start();
      } catch {
        // The container's directory is gone (removed); nothing to keep.
        keepers.delete(msg.path);
      }
    } else if (msg.op === "finish") {
      try {
        keepers.get(msg.path)?.finish();
      } catch {
        // As above: a removed container leaves nothing to file.
      }
      keepers.delete(msg.path);
      port.postMessage({ id: msg.id } satisfies KeeperReply);
    } else {
      for (const [path, keeper] of keepers) {
        try {
          keeper.check();
        } catch {
          keeper.stop();
          keepers.delete(path);
        }
      }
    }
  });
  // Reply 0 says the worker listens (a worker started under tsx takes a while to get here).
  port.postMessage({ id: 0 } satisfies KeeperReply);
}
