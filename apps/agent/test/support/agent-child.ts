// A stand-in agent process for adoption tests: it starts the containers it is told to, prints
// their IDs, and then idles until the test SIGKILLs it.
import { busyboxRuntime } from "@berth/test-support/busybox-runtime";

const [stateDir, cgroupParent, specJson] = process.argv.slice(2) as [string, string, string];
const specs = JSON.parse(specJson) as Array<{ name: string; cmd: string[]; restart?: string }>;
const { rt } = await busyboxRuntime({ stateDir, cgroupParent });
const ids: Record<string, string> = {};
for (const s of specs) {
  const { Id } = await rt.containers.create(
    { Image: "busybox", Cmd: s.cmd, HostConfig: { RestartPolicy: { Name: (s.restart ?? "no") as "no" } } },
    s.name,
  );
  await rt.containers.start(Id);
  ids[s.name] = Id;
}
process.stdout.write(`${JSON.stringify(ids)}\n`);
setInterval(() => undefined, 1 << 30);
