// An agent runtime with bridge networking, in a lab host's network namespace (started there with
// nsenter by lab-runtime.ts), answering calls from the test over IPC.
import { createRuntime, type AgentRuntime } from "../../../apps/agent/src/runtime.ts";
import { importBusybox } from "./busybox-runtime.ts";

type Call = { id: number; target: "containers" | "networks" | "volumes" | "run" | "logs"; method: string; args: unknown[] };

const [stateDir, cgroupParent, defaultSubnet, fresh] = process.argv.slice(2) as [string, string, string, string];
// The embedded DNS forwards to a resolver the test runs on a lab address, never to the machine's.
const upstream = process.env.LAB_DNS_UPSTREAM;
const rt: AgentRuntime = createRuntime(stateDir, { cgroupParent, networking: { defaultSubnet, dnsUpstreams: upstream ? [upstream] : [] } });
if (fresh === "1") await importBusybox(rt);
await rt.networks!.init();
await rt.containers.init();

/** create + start + wait + logs + remove: a command's exit code and output. */
async function runToEnd(config: Record<string, unknown>): Promise<{ code: number; out: string }> {
  const { Id } = await rt.containers.create({ Image: "busybox", ...config });
  await rt.containers.start(Id);
  const { StatusCode } = await rt.containers.wait(Id);
  let out = "";
  for await (const e of rt.containers.logs(Id)) out += e.line;
  await rt.containers.remove(Id);
  return { code: StatusCode, out };
}

process.on("message", (c: Call) => {
  const work = async () => {
    if (c.target === "run") return runToEnd(c.args[0] as Record<string, unknown>);
    if (c.target === "logs") {
      let out = "";
      for await (const e of rt.containers.logs(c.args[0] as string)) out += e.line;
      return out;
    }
    const obj = rt[c.target] as unknown as Record<string, (...a: unknown[]) => unknown>;
    return await obj[c.method]!.apply(obj, c.args);
  };
  work().then(
    (result) => process.send!({ id: c.id, result: result ?? null }),
    (e: unknown) => process.send!({ id: c.id, error: e instanceof Error ? e.message : String(e) }),
  );
});
process.send!({ id: 0, result: "ready" });
