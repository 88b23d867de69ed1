// `berth service …`: Swarm's `docker service` verbs over the control plane's services API.
import type { createTRPCClient } from "@trpc/client";
import { WebSocket } from "ws";
import { parseServicePort } from "@berth/protocol";
import type { AppRouter } from "@berth/api";

type Client = ReturnType<typeof createTRPCClient<AppRouter>>;
type Print = (v: unknown, text: () => string) => void;

export class ServiceUsageError extends Error {}

export const SERVICE_USAGE = `  service create [--name N] [--replicas N | --mode global] [-e K=V]... [--constraint C]...
                 [-p [PUBLISHED:]TARGET[/udp]]... [--update-parallelism N] [--update-order start-first]
                 [--restart-condition any|on-failure|none] IMAGE [ARGS...]
                                          declare a service; prints its id
  service ls                              list services: running/desired, update state
  service ps SERVICE                      its tasks: slot, host, state, error
  service inspect SERVICE                 its spec and state (JSON)
  service scale SERVICE=N                 set the replica count
  service update [--image I] [--replicas N] [-e K=V]... [--force] SERVICE
                                          change the spec (rolls out per its update config)
  service rollback SERVICE                return to the previous spec
  service rm SERVICE                      remove it and its tasks
  service logs [-f] [--tail N] SERVICE    every task's log, merged, each line tagged task@host`;

type Values = Record<string, unknown>;

async function serviceOf(api: Client, ref: string | undefined) {
  if (!ref) throw new ServiceUsageError("name a service");
  const all = await api.services.list.query();
  const s = all.find((x) => x.id === ref) ?? all.find((x) => x.name === ref);
  if (!s) throw new ServiceUsageError(`no service '${ref}' (berth service ls lists them)`);
  return s;
}

function intOption(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new ServiceUsageError(`--${name} takes a whole number`);
  return n;
}

/** `8080:80` (the routing mesh), `80` (host mode, any number), `mode=host,published=8080,target=80`. */
function port(spec: string) {
  const p = parseServicePort(spec);
  if (!p) throw new ServiceUsageError(`-p ${spec}: use [PUBLISHED:]TARGET[/udp] or mode=host,published=N,target=N`);
  return p;
}

const list = (v: unknown) => (v as string[] | undefined) ?? [];

export interface StreamAccess {
  url: string;
  token: string;
  out: NodeJS.WritableStream;
}

export async function serviceCommand(
  api: Client,
  args: string[],
  g: Values,
  print: Print,
  table: (rows: string[][]) => string,
  streams: StreamAccess,
): Promise<number> {
  const [verb, ...rest] = args;
  switch (verb) {
    case "create": {
      const [image, ...cmdArgs] = rest;
      if (!image) throw new ServiceUsageError("service create needs an image");
      const teams = await api.auth.teams.query();
      if (!teams[0]) throw new ServiceUsageError("this token belongs to no team");
      const replicas = intOption(g.replicas, "replicas");
      const mode = g.mode === "global" ? { kind: "global" as const } : { kind: "replicated" as const, replicas: replicas ?? 1 };
      if (g.mode !== undefined && g.mode !== "global" && g.mode !== "replicated")
        throw new ServiceUsageError("--mode is replicated or global");
      const parallelism = intOption(g["update-parallelism"], "update-parallelism");
      const s = await api.services.create.mutate({
        teamId: teams[0].id,
        spec: {
          name: String(
            g.name ??
              image
                .replace(/^.*\//, "")
                .replace(/[:@].*$/, "")
                .replace(/[^a-zA-Z0-9-]/g, "-"),
          ),
          task: {
            image,
            ...(cmdArgs.length ? { args: cmdArgs } : {}),
            env: list(g.env),
            placement: { constraints: list(g.constraint) },
            ...(g["restart-condition"] ? { restartPolicy: { condition: g["restart-condition"] } } : {}),
          },
          mode,
          endpoint: { ports: list(g.publish).map(port) },
          updateConfig: {
            ...(parallelism !== undefined ? { parallelism } : {}),
            ...(g["update-order"] ? { order: g["update-order"] } : {}),
          },
        },
      });
      print(s, () => s.id);
      return 0;
    }
    case "ls": {
      const services = await api.services.list.query();
      print(services, () =>
        table([
          ["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "UPDATE"],
          ...services.map((s) => [
            s.id,
            s.name,
            s.spec.mode.kind,
            `${s.running}/${s.spec.mode.kind === "replicated" ? s.spec.mode.replicas : "global"}`,
            s.spec.task.image,
            s.updateState ?? "",
          ]),
        ]),
      );
      return 0;
    }
    case "ps": {
      const s = await serviceOf(api, rest[0]);
      const tasks = await api.services.tasks.query({ id: s.id });
      print(tasks, () =>
        table([
          ["TASK", "SLOT", "HOST", "DESIRED", "STATE", "ERROR"],
          ...tasks.map((t) => [t.id, String(t.slot || "-"), t.host?.name ?? "", t.desiredState, t.state, t.message]),
        ]),
      );
      return 0;
    }
    case "inspect": {
      const s = await serviceOf(api, rest[0]);
      const full = await api.services.get.query({ id: s.id });
      print(full, () => JSON.stringify(full, null, 2));
      return 0;
    }
    case "scale": {
      const m = /^(.+)=(\d+)$/.exec(rest[0] ?? "");
      if (!m) throw new ServiceUsageError("service scale takes SERVICE=REPLICAS");
      const s = await serviceOf(api, m[1]);
      const r = await api.services.scale.mutate({ id: s.id, version: s.version, replicas: Number(m[2]) });
      print(r, () => `${s.name} scaled to ${m[2]}`);
      return 0;
    }
    case "update": {
      const s = await serviceOf(api, rest[0]);
      const replicas = intOption(g.replicas, "replicas");
      const env = list(g.env);
      const keys = new Set(env.map((e) => e.split("=")[0]));
      const spec = {
        ...s.spec,
        task: {
          ...s.spec.task,
          ...(g.image ? { image: String(g.image) } : {}),
          env: [...s.spec.task.env.filter((e) => !keys.has(e.split("=")[0])), ...env],
        },
        ...(replicas !== undefined ? { mode: { kind: "replicated" as const, replicas } } : {}),
      };
      const r = await api.services.update.mutate({ id: s.id, version: s.version, spec, force: Boolean(g.force) });
      print(r, () => `${s.name} at version ${r.version}${r.updateState ? ` (${r.updateState})` : ""}`);
      return 0;
    }
    case "rollback": {
      const s = await serviceOf(api, rest[0]);
      const r = await api.services.rollback.mutate({ id: s.id, version: s.version });
      print(r, () => `${s.name} rolling back to version ${s.previousVersion} (now version ${r.version})`);
      return 0;
    }
    case "rm": {
      const s = await serviceOf(api, rest[0]);
      await api.services.remove.mutate({ id: s.id });
      print({ id: s.id }, () => s.name);
      return 0;
    }
    case "logs": {
      const s = await serviceOf(api, rest[0]);
      // -f is --follow here, as in `docker service logs -f`.
      return serviceLogs(streams, s.id, s.name, Boolean(g.follow || g.force), intOption(g.tail, "tail"));
    }
    default:
      throw new ServiceUsageError(`unknown service command '${verb ?? ""}'\n${SERVICE_USAGE}`);
  }
}

/**
 * Follows /api/streams/service-logs: each message is one task's batch of lines, acknowledged once
 * written, so the terminal's pace is the stream's. Lines print as `name.slot.task@host | line`,
 * as `docker service logs` does.
 */
function serviceLogs(o: StreamAccess, serviceId: string, name: string, follow: boolean, tail: number | undefined): Promise<number> {
  const u = new URL("/api/streams/service-logs", o.url);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  u.searchParams.set("service", serviceId);
  u.searchParams.set("follow", String(follow));
  if (tail !== undefined) u.searchParams.set("tail", String(tail));
  const ws = new WebSocket(u, { headers: { authorization: `Bearer ${o.token}`, "x-berth-channel": "cli" } });
  return new Promise((resolve, reject) => {
    let failed = false;
    process.once("SIGINT", () => ws.close(1000));
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => reject(new ServiceUsageError(body || `HTTP ${res.statusCode}`)));
    });
    ws.on("message", (raw) => {
      const m = JSON.parse(raw.toString()) as
        | { t: "data"; d: { task: { id: string; slot: number; host: string }; lines: [string, string, string, string][] } }
        | { t: "end"; error?: { message: string } };
      if (m.t === "end") {
        if (m.error) {
          failed = true;
          process.stderr.write(`berth: ${m.error.message}\n`);
        }
        return;
      }
      const tag = `${name}.${m.d.task.slot || m.d.task.host}.${m.d.task.id}@${m.d.task.host}`;
      const text = m.d.lines.map((l) => `${tag}    | ${l[3].endsWith("\n") ? l[3] : `${l[3]}\n`}`).join("");
      const ack = () => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ t: "ack", n: 1 }));
      if (o.out.write(text)) ack();
      else o.out.once("drain", ack);
    });
    ws.on("close", () => resolve(failed ? 1 : 0));
    ws.on("error", (e) => reject(e));
  });
}
