// A bench agent process for the pull figure: the agent's image service bundled as it ships (one
// CommonJS file whose worker threads start from itself), pulling on request from
// bench/image-pull.ts over IPC into a fresh state dir each time.
import { createRuntime } from "../../apps/agent/src/runtime.ts";
import { serveAgentWorker } from "../../apps/agent/src/worker-main.ts";

type Request = { op: "pull"; stateDir: string; reference: string };

if (!serveAgentWorker()) {
  process.on("message", (msg: Request) => {
    createRuntime(msg.stateDir)
      .images.pull(msg.reference)
      .then(
        () => process.send!({ ok: true }),
        (e: unknown) => process.send!({ error: e instanceof Error ? e.message : String(e) }),
      );
  });
  process.send!({ ready: true });
}
