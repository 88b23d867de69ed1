// `berth`: a small typed CLI for scripts, over the control plane's tRPC API and live streams.
// BERTH_URL and BERTH_TOKEN (an API token) say where and as whom; --url and --token override.
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { createTRPCClient, httpLink, httpSubscriptionLink, splitLink, TRPCClientError } from "@trpc/client";
import { EventSource } from "eventsource";
import superjson from "superjson";
import type { AppRouter } from "@berth/api";
import { StreamClient, StreamError } from "./stream-client.ts";
import { SERVICE_USAGE, ServiceUsageError, serviceCommand } from "./services.ts";

const USAGE = `usage: berth [--url URL] [--token TOKEN] [--json] <command> [args]

  hosts                                   list hosts
  ps [-a] --host H                        list containers on a host (-a: stopped ones too)
  run --host H [--name N] [-e K=V]... IMAGE [CMD...]
                                          create and start a container; prints its id
  start|stop|restart|rm [-f] --host H C   change a container's state (rm -f: even running)
  images --host H                         list images
  pull --host H REFERENCE                 pull an image, with progress on stderr
  logs [-f] [--tail N] [--since UNIX] --host H C
                                          print a container's log (-f: follow)
  exec [-i] [-t] --host H C CMD...        run a command in a container; exits with its code
${SERVICE_USAGE}

Hosts are named by name or id. BERTH_URL and BERTH_TOKEN give the control plane and an API token.`;

class UsageError extends Error {}

type Client = ReturnType<typeof makeClient>;

function makeClient(url: string, token: string) {
  const headers = { authorization: `Bearer ${token}`, "x-berth-channel": "cli" };
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        true: httpSubscriptionLink({
          url: `${url}/api/trpc`,
          transformer: superjson,
          EventSource,
          eventSourceOptions: () => ({ fetch: (input, init) => fetch(input, { ...init, headers: { ...init?.headers, ...headers } }) }),
        }),
        false: httpLink({ url: `${url}/api/trpc`, transformer: superjson, headers }),
      }),
    ],
  });
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("   ")).join("\n");
}

async function hostId(api: Client, ref: string | undefined): Promise<string> {
  if (!ref) throw new UsageError("--host is required");
  const hosts = await api.hosts.list.query();
  const h = hosts.find((x) => x.id === ref) ?? hosts.find((x) => x.name === ref);
  if (!h) throw new UsageError(`no host '${ref}' (berth hosts lists them)`);
  return h.id;
}

const VALUE_OPTIONS = new Set([
  "--url",
  "--token",
  "--host",
  "--name",
  "--tail",
  "--since",
  "--env",
  "-e",
  "--replicas",
  "--mode",
  "--constraint",
  "--publish",
  "-p",
  "--update-parallelism",
  "--update-order",
  "--restart-condition",
  "--image",
]);

/**
 * For run and exec, options end at the image or container: what follows is the command, passed
 * on untouched (`berth exec c sh -c 'echo hi'` keeps its -c), as the docker CLI does.
 */
function splitCommand(argv: string[]): { options: string[]; command: string[] } {
  let at = argv.findIndex((a) => !a.startsWith("-"));
  // `service create … IMAGE ARGS…` passes its ARGS on as run does.
  if (argv[at] === "service") {
    const sub = argv.findIndex((a, i) => i > at && !a.startsWith("-"));
    at = argv[sub] === "create" ? sub : -1;
  } else if (at >= 0 && !["run", "exec"].includes(argv[at]!)) at = -1;
  if (at < 0) return { options: argv, command: [] };
  for (let i = at + 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") return { options: argv.slice(0, i), command: argv.slice(i + 1) };
    if (!a.startsWith("-")) return { options: argv.slice(0, i + 1), command: argv.slice(i + 1) };
    if (VALUE_OPTIONS.has(a)) i++;
  }
  return { options: argv, command: [] };
}

export async function main(
  argv: string[],
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  const split = splitCommand(argv);
  const parsed = parseArgs({
    args: split.options,
    allowPositionals: true,
    strict: false,
    options: {
      url: { type: "string" },
      token: { type: "string" },
      json: { type: "boolean" },
      host: { type: "string" },
      name: { type: "string" },
      all: { type: "boolean", short: "a" },
      force: { type: "boolean", short: "f" },
      follow: { type: "boolean" },
      tail: { type: "string" },
      since: { type: "string" },
      env: { type: "string", short: "e", multiple: true },
      interactive: { type: "boolean", short: "i" },
      tty: { type: "boolean", short: "t" },
      help: { type: "boolean", short: "h" },
      replicas: { type: "string" },
      mode: { type: "string" },
      constraint: { type: "string", multiple: true },
      publish: { type: "string", short: "p", multiple: true },
      "update-parallelism": { type: "string" },
      "update-order": { type: "string" },
      "restart-condition": { type: "string" },
      image: { type: "string" },
    },
  });
  const g = parsed.values;
  const [command, ...rest] = [...parsed.positionals, ...split.command];
  if (!command || g.help) {
    out.write(`${USAGE}\n`);
    return command || g.help ? 0 : 2;
  }
  const url = String(g.url ?? process.env.BERTH_URL ?? "").replace(/\/+$/, "");
  const token = String(g.token ?? process.env.BERTH_TOKEN ?? "");
  const print = (v: unknown, text: () => string) => out.write(`${g.json ? JSON.stringify(v, null, 2) : text()}\n`);
  try {
    if (!url) throw new UsageError("set BERTH_URL (or --url) to the control plane's address");
    if (!token) throw new UsageError("set BERTH_TOKEN (or --token) to an API token (Settings → API tokens)");
    const api = makeClient(url, token);
    const host = () => hostId(api, g.host as string | undefined);
    const one = () => {
      if (rest.length !== 1) throw new UsageError(`${command} takes one container`);
      return rest[0]!;
    };
    switch (command) {
      case "hosts": {
        const hosts = await api.hosts.list.query();
        print(hosts, () =>
          table([
            ["ID", "NAME", "STATUS", "AGENT"],
            ...hosts.map((h) => [h.id, h.name, h.connected ? "online" : h.status, h.agentVersion ?? ""]),
          ]),
        );
        return 0;
      }
      case "ps": {
        const list = await api.containers.list.query({ hostId: await host(), all: Boolean(g.all) });
        print(list, () =>
          table([
            ["CONTAINER ID", "IMAGE", "STATUS", "NAMES"],
            ...list.map((c) => [c.Id.slice(0, 12), c.Image, c.Status, c.Names.map((n) => n.replace(/^\//, "")).join(",")]),
          ]),
        );
        return 0;
      }
      case "run": {
        const [image, ...cmd] = rest;
        if (!image) throw new UsageError("run needs an image");
        const env = (g.env as string[] | undefined) ?? [];
        const r = await api.containers.run.mutate({
          hostId: await host(),
          ...(g.name ? { name: String(g.name) } : {}),
          config: { Image: image, ...(cmd.length ? { Cmd: cmd } : {}), ...(env.length ? { Env: env } : {}) },
        });
        print(r, () => r.Id);
        return 0;
      }
      case "start":
      case "stop":
      case "restart": {
        const id = one();
        await api.containers[command].mutate({ hostId: await host(), id });
        print({ id }, () => id);
        return 0;
      }
      case "rm": {
        const id = one();
        await api.containers.remove.mutate({ hostId: await host(), id, force: Boolean(g.force) });
        print({ id }, () => id);
        return 0;
      }
      case "images": {
        const list = await api.images.list.query({ hostId: await host() });
        print(list, () =>
          table([
            ["REPOSITORY:TAG", "IMAGE ID", "SIZE"],
            ...list.map((i) => [
              i.RepoTags.join(",") || "<none>",
              i.Id.replace(/^sha256:/, "").slice(0, 12),
              `${(i.Size / 1e6).toFixed(1)}MB`,
            ]),
          ]),
        );
        return 0;
      }
      case "pull": {
        const reference = one();
        const hid = await host();
        // Progress goes to stderr as it comes; the pull itself is one mutation.
        const progressId = randomUUID();
        const sub = api.images.pullProgress.subscribe(
          { hostId: hid, progressId },
          { onData: (ev) => !ev.done && err.write(`${JSON.stringify(ev.progress)}\n`), onError: () => undefined },
        );
        try {
          await api.images.pull.mutate({ hostId: hid, reference, progressId });
        } finally {
          sub.unsubscribe();
        }
        out.write(`${reference}: pulled\n`);
        return 0;
      }
      case "logs":
        return await logs(url, token, await host(), one(), g, out);
      case "exec": {
        const [container, ...cmd] = rest;
        if (!container || cmd.length === 0) throw new UsageError("exec needs a container and a command");
        return await exec(url, token, await host(), container, cmd, Boolean(g.tty), Boolean(g.interactive), out, err);
      }
      case "service":
        return await serviceCommand(api, rest, g, print, table, { url, token, out });
      default:
        throw new UsageError(`unknown command '${command}'\n${USAGE}`);
    }
  } catch (e) {
    if (e instanceof UsageError || e instanceof ServiceUsageError) {
      err.write(`berth: ${e.message}\n`);
      return 2;
    }
    if (e instanceof TRPCClientError || e instanceof StreamError) {
      err.write(`berth: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

async function logs(
  url: string,
  token: string,
  hostId: string,
  id: string,
  g: Record<string, unknown>,
  out: NodeJS.WritableStream,
): Promise<number> {
  const tail = g.tail === undefined ? undefined : Number(g.tail);
  if (tail !== undefined && !Number.isInteger(tail)) throw new UsageError("--tail takes a number of lines");
  const stream = new StreamClient({
    url,
    kind: "logs",
    hostId,
    headers: { authorization: `Bearer ${token}`, "x-berth-channel": "cli" },
    params: {
      id,
      follow: Boolean(g.follow || g.force),
      ...(tail !== undefined ? { tail } : {}),
      ...(g.since ? { since: Number(g.since) } : {}),
    },
    window: 16,
  });
  process.once("SIGINT", () => stream.close());
  for await (const d of stream) {
    const text = d.lines.map((l) => l[3]).join("");
    // The terminal's pace is the stream's: the next frame is asked for once this one is written.
    if (!out.write(text)) await new Promise((r) => out.once("drain", r));
  }
  return 0;
}

async function exec(
  url: string,
  token: string,
  hostId: string,
  id: string,
  cmd: string[],
  tty: boolean,
  interactive: boolean,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  const stdin = process.stdin;
  const size = () => ({ cols: process.stdout.columns || 80, rows: process.stdout.rows || 24 });
  const stream = new StreamClient({
    url,
    kind: "exec",
    hostId,
    headers: { authorization: `Bearer ${token}`, "x-berth-channel": "cli" },
    params: { id, arg: cmd, tty, ...(tty ? size() : {}) },
    window: 16,
  });
  await stream.opened;
  if (interactive) {
    if (tty && stdin.isTTY) stdin.setRawMode(true);
    stdin.on("data", (d: Buffer) => stream.input(d.toString("utf8")));
    stdin.on("end", () => stream.eof());
    if (tty) process.stdout.on("resize", () => stream.resize(size().cols, size().rows));
  } else stream.eof();
  let code = 0;
  try {
    for await (const m of stream) {
      if (m.o) out.write(m.o);
      if (m.e) err.write(m.e);
      if (m.exit !== undefined) code = m.exit;
    }
  } finally {
    if (interactive) {
      if (tty && stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
    }
  }
  return code;
}
