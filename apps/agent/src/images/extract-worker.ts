// The body of a layer-extraction worker thread: it runs jobs one at a time as the pool sends them.
import { parentPort } from "node:worker_threads";
import { extractLayerFile, type ExtractJob } from "./layer-extract.ts";

export type ExtractReply = { id: number; ok: true; diffId: string } | { id: number; ok: false; name: string; message: string };

export function serveExtractJobs(): void {
  const port = parentPort;
  if (!port) throw new Error("serveExtractJobs must run in a worker thread");
  port.on("message", (msg: { id: number; job: ExtractJob }) => {
    extractLayerFile(msg.job).then(
      ({ diffId }) => port.postMessage({ id: msg.id, ok: true, diffId } satisfies ExtractReply),
      (e: unknown) => {
        const err = e instanceof Error ? e : new Error(String(e));
        port.postMessage({ id: msg.id, ok: false, name: err.name, message: err.message } satisfies ExtractReply);
      },
    );
  });
}
