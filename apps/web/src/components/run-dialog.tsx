"use client";
import { useState } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useTRPC } from "../client/trpc";
import { Button, Dialog, ErrorBox } from "./ui";
import { splitCommandLine } from "@berth/protocol/command-line";
import { parseBind, parseMountFlag, parsePortSpec, type Mount } from "@berth/protocol";

const input = "w-full rounded-md border border-slate-300 px-3 py-1.5 text-sm";

/** `docker run -d` from the browser: image, name, command, env, network, ports, mounts, limits and restart policy. */
export function RunDialog({ hostId, onClose }: { hostId: string; onClose(): void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [image, setImage] = useState("busybox");
  const [name, setName] = useState("");
  const [command, setCommand] = useState("");
  const [env, setEnv] = useState("");
  const [mounts, setMounts] = useState("");
  const [network, setNetwork] = useState("");
  const [ports, setPorts] = useState("");
  const [memoryMiB, setMemoryMiB] = useState("");
  const [cpus, setCpus] = useState("");
  const [restart, setRestart] = useState<"no" | "on-failure" | "always" | "unless-stopped">("no");
  const [formError, setFormError] = useState<string | null>(null);
  const run = useMutation(
    trpc.containers.run.mutationOptions({
      onSuccess: () => {
        void queryClient.invalidateQueries({ queryKey: trpc.containers.list.queryKey({ hostId }) });
        onClose();
      },
    }),
  );

  const submit = () => {
    setFormError(null);
    let cmd: string[] | undefined;
    try {
      cmd = command.trim() ? splitCommandLine(command) : undefined;
    } catch (e) {
      setFormError(`Command: ${(e as Error).message}`);
      return;
    }
    const envList = env
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean);
    const bad = envList.find((e) => !/^[^=\s]+=/.test(e));
    if (bad) {
      setFormError(`Environment lines are KEY=value: "${bad}"`);
      return;
    }
    // Each line is `-v` syntax (src:dst[:mode]) or `--mount` syntax (key=value,…), checked here with Docker's messages.
    const binds: string[] = [];
    const mountList: Mount[] = [];
    for (const line of mounts
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean)) {
      try {
        if (/^[a-z-]+=/.test(line)) mountList.push(parseMountFlag(line));
        else {
          parseBind(line);
          binds.push(line);
        }
      } catch (e) {
        setFormError(`Mounts: ${(e as Error).message}`);
        return;
      }
    }
    // `-p` lines: 8081:80, 127.0.0.1:5353:53/udp, or a bare container port for a random host port.
    const portBindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
    for (const line of ports
      .split(/[\n,]/)
      .map((l) => l.trim())
      .filter(Boolean)) {
      try {
        const p = parsePortSpec(line);
        const bindings = portBindings[p.key] ?? [];
        portBindings[p.key] = bindings;
        bindings.push(p.binding);
      } catch (e) {
        setFormError(`Ports: ${(e as Error).message}`);
        return;
      }
    }
    const mem = memoryMiB.trim() ? Number(memoryMiB) : 0;
    const cpu = cpus.trim() ? Number(cpus) : 0;
    if (!Number.isFinite(mem) || mem < 0 || !Number.isFinite(cpu) || cpu < 0) {
      setFormError("Memory and CPUs must be positive numbers");
      return;
    }
    run.mutate({
      hostId,
      ...(name.trim() ? { name: name.trim() } : {}),
      config: {
        Image: image.trim(),
        ...(cmd ? { Cmd: cmd } : {}),
        ...(envList.length ? { Env: envList } : {}),
        HostConfig: {
          ...(mem ? { Memory: Math.round(mem * 1024 * 1024) } : {}),
          ...(cpu ? { NanoCpus: Math.round(cpu * 1e9) } : {}),
          RestartPolicy: { Name: restart, MaximumRetryCount: 0 },
          ...(binds.length ? { Binds: binds } : {}),
          ...(network.trim() ? { NetworkMode: network.trim() } : {}),
          ...(Object.keys(portBindings).length ? { PortBindings: portBindings } : {}),
          ...(mountList.length ? { Mounts: mountList } : {}),
        },
      },
    });
  };

  return (
    <Dialog title="Run a container" onClose={onClose}>
      <form
        className="space-y-3"
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <label className="block text-sm">
          Image
          <input aria-label="Image" className={`${input} font-mono`} value={image} onChange={(e) => setImage(e.target.value)} required />
        </label>
        <label className="block text-sm">
          Name (optional)
          <input aria-label="Name" className={input} value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label className="block text-sm">
          Command (optional; quotes group words)
          <input
            aria-label="Command"
            className={`${input} font-mono`}
            value={command}
            onChange={(e) => setCommand(e.target.value)}
            placeholder={`sh -c "echo hello; sleep 3600"`}
          />
        </label>
        <label className="block text-sm">
          Environment (KEY=value, one per line)
          <textarea
            aria-label="Environment"
            className={`${input} font-mono`}
            rows={3}
            value={env}
            onChange={(e) => setEnv(e.target.value)}
          />
        </label>
        <div className="flex gap-3">
          <label className="block flex-1 text-sm">
            Network (empty for the host's default)
            <input
              aria-label="Network"
              className={`${input} font-mono`}
              value={network}
              onChange={(e) => setNetwork(e.target.value)}
              placeholder="bridge"
            />
          </label>
          <label className="block flex-1 text-sm">
            Ports (<code>8081:80</code>, <code>53/udp</code>, …)
            <input
              aria-label="Ports"
              className={`${input} font-mono`}
              value={ports}
              onChange={(e) => setPorts(e.target.value)}
              placeholder="8081:80"
            />
          </label>
        </div>
        <label className="block text-sm">
          Mounts (one per line: <code>volume:/path[:ro]</code>, <code>/host/path:/path</code> or{" "}
          <code>type=tmpfs,target=/tmp,tmpfs-size=64m</code>)
          <textarea
            aria-label="Mounts"
            className={`${input} font-mono`}
            rows={2}
            value={mounts}
            onChange={(e) => setMounts(e.target.value)}
            placeholder="data:/var/lib/data"
          />
        </label>
        <div className="flex gap-3">
          <label className="block flex-1 text-sm">
            Memory limit (MiB)
            <input
              aria-label="Memory limit"
              inputMode="numeric"
              className={input}
              value={memoryMiB}
              onChange={(e) => setMemoryMiB(e.target.value)}
            />
          </label>
          <label className="block flex-1 text-sm">
            CPUs
            <input
              aria-label="CPUs"
              inputMode="decimal"
              className={input}
              value={cpus}
              onChange={(e) => setCpus(e.target.value)}
              placeholder="0.5"
            />
          </label>
          <label className="block flex-1 text-sm">
            Restart policy
            <select
              aria-label="Restart policy"
              className={input}
              value={restart}
              onChange={(e) => setRestart(e.target.value as typeof restart)}
            >
              <option value="no">no</option>
              <option value="on-failure">on-failure</option>
              <option value="always">always</option>
              <option value="unless-stopped">unless-stopped</option>
            </select>
          </label>
        </div>
        <ErrorBox error={formError ? { message: formError } : run.error} />
        <div className="flex justify-end gap-2">
          <Button type="button" variant="secondary" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" disabled={run.isPending}>
            {run.isPending ? "Starting…" : "Run"}
          </Button>
        </div>
      </form>
    </Dialog>
  );
}
