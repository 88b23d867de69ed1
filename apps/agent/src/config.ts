// The agent's configuration: its command line and environment, read once and checked with zod,
// as apps/web reads its env.ts. Every flag is declared once here; the usage text is made from the
// same table, so it cannot forget one.
import { parseArgs } from "node:util";
import { z } from "zod";

const HOST_PORT = /^[0-9A-Za-z.:[\]-]+:\d{1,5}$/;
const httpUrl = (flag: string) => z.url({ protocol: /^https?$/, error: `${flag} must be an http(s) URL` });
/** A comma-separated environment list ("" and unset are both empty). */
const envList = (v: string | undefined) => (v ? v.split(",").filter(Boolean) : undefined);

interface Flag {
  type: "string" | "boolean";
  multiple?: boolean;
  /** Placeholder in the usage text (string flags). */
  arg?: string;
  /** The environment variable that sets it when the flag is absent. */
  env?: string;
  help: string;
}

/**
 * Every flag of `join` and `run` (exported for the test that holds the usage text to it); `join`
 * runs the agent afterwards, so it takes all of them.
 */
export const FLAGS = {
  url: { type: "string", arg: "URL[,URL…]", help: "control plane to join; replicas' addresses comma-separated, tried in turn (join only)" },
  token: { type: "string", arg: "TOKEN", help: "join token from the dashboard (join only)" },
  name: { type: "string", arg: "NAME", help: "this host's name in the fleet (join only; default: the hostname)" },
  "no-run": { type: "boolean", help: "join, then exit instead of running (join only)" },
  "state-dir": {
    type: "string",
    arg: "DIR",
    env: "BERTH_STATE_DIR",
    help: "where images, containers and the credential live (default /var/lib/berth)",
  },
  "registry-mirror": {
    type: "string",
    multiple: true,
    arg: "URL",
    env: "BERTH_REGISTRY_MIRRORS",
    help: "Docker Hub pull-through mirror, repeatable",
  },
  "insecure-registry": {
    type: "string",
    multiple: true,
    arg: "HOST:PORT",
    env: "BERTH_INSECURE_REGISTRIES",
    help: "registry spoken to over plain HTTP, repeatable",
  },
  "docker-socket": {
    type: "string",
    arg: "PATH",
    env: "BERTH_DOCKER_SOCKET",
    help: "Docker Engine API socket (default /run/berth/docker.sock; '' turns it off)",
  },
  "docker-tls-listen": {
    type: "string",
    arg: "HOST:PORT",
    help: "also serve the Docker API on TCP, with TLS and client certificates only",
  },
  "docker-tls-cert": { type: "string", arg: "FILE", help: "server certificate for --docker-tls-listen" },
  "docker-tls-key": { type: "string", arg: "FILE", help: "server key for --docker-tls-listen" },
  "docker-tls-ca": { type: "string", arg: "FILE", help: "CA that client certificates must chain to" },
  "metrics-listen": {
    type: "string",
    arg: "HOST:PORT",
    env: "BERTH_METRICS_LISTEN",
    help: "Prometheus metrics, behind the bearer token in <state-dir>/metrics-token",
  },
  vtep: {
    type: "string",
    arg: "ADDRESS",
    env: "BERTH_VTEP",
    help: "this host's IPv4 address for overlay networks (default: where its link to the control plane leaves from, or the default route's address when that is loopback)",
  },
} satisfies Record<string, Flag>;

/** Environment settings with no flag. */
export const ENV_ONLY = {
  LOG_LEVEL: "pino log level (default info)",
  BERTH_NETWORKING: "0 runs without bridge networking (containers get none or host)",
  BERTH_CGROUP_PARENT: "cgroupfs parent of this agent's containers (default /berth)",
  BERTH_MOUNT_HELPER: "0 mounts through mount(8) instead of the syscall helper",
  BERTH_BUILD_CONTEXT_MAX: "largest build context accepted, in bytes as sent (default 2 GiB)",
};

export function usageText(): string {
  const flags = Object.entries(FLAGS as Record<string, Flag>).map(([name, f]) => {
    const left = `--${name}${f.type === "string" ? ` ${f.arg}` : ""}`;
    return `  ${left.padEnd(30)} ${f.help}${f.env ? ` [${f.env}]` : ""}`;
  });
  const env = Object.entries(ENV_ONLY).map(([k, v]) => `  ${k.padEnd(30)} ${v}`);
  return [
    "usage:",
    "  berth-agent join --url URL --token TOKEN [--name NAME] [--no-run] [run flags]",
    "  berth-agent run [flags]",
    "  berth-agent version | help",
    "",
    "flags:",
    ...flags,
    "",
    "environment:",
    ...env,
    "",
  ].join("\n");
}

const ArgsSchema = z.object({
  url: z
    .string()
    .transform((v) =>
      v
        .split(",")
        .map((u) => u.trim())
        .filter(Boolean),
    )
    .pipe(z.array(httpUrl("--url")).min(1, "--url needs an address").max(16, "--url takes at most 16 addresses"))
    .optional(),
  token: z.string().min(1).optional(),
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "--name may contain letters, digits, '.', '_' and '-'")
    .optional(),
  "no-run": z.boolean().default(false),
  "state-dir": z.string().min(1).default("/var/lib/berth"),
  "registry-mirror": z.array(httpUrl("--registry-mirror")).default([]),
  "insecure-registry": z.array(z.string().regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, "--insecure-registry takes host[:port]")).default([]),
  "docker-socket": z
    .string()
    .max(100, "--docker-socket must be a path of at most 100 bytes (unix socket limit)")
    .regex(/^$|^\//, "--docker-socket must be an absolute path")
    .default("/run/berth/docker.sock"),
  "docker-tls-listen": z.string().regex(HOST_PORT, "--docker-tls-listen takes HOST:PORT").optional(),
  "docker-tls-cert": z.string().min(1).optional(),
  "docker-tls-key": z.string().min(1).optional(),
  "docker-tls-ca": z.string().min(1).optional(),
  "metrics-listen": z.string().regex(HOST_PORT, "--metrics-listen takes HOST:PORT").optional(),
  vtep: z
    .string()
    .regex(/^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/, "--vtep takes an IPv4 address")
    .optional(),
});

const EnvSchema = z.object({
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  BERTH_NETWORKING: z.enum(["0", "1"], { error: "BERTH_NETWORKING is 0 or 1" }).default("1"),
  BERTH_CGROUP_PARENT: z
    .string()
    .regex(/^\/[A-Za-z0-9._/-]*$/, "BERTH_CGROUP_PARENT must be an absolute cgroup path")
    .optional(),
  BERTH_MOUNT_HELPER: z.enum(["0", "1"], { error: "BERTH_MOUNT_HELPER is 0 or 1" }).default("1"),
  BERTH_BUILD_CONTEXT_MAX: z.coerce
    .number({ error: "BERTH_BUILD_CONTEXT_MAX is a number of bytes" })
    .int()
    .positive("BERTH_BUILD_CONTEXT_MAX is a number of bytes")
    .optional(),
});

export interface Listen {
  host: string;
  port: number;
}

export interface AgentConfig {
  command: "join" | "run" | "version" | "help";
  /** `urls`: the control plane's addresses (its replicas), the first tried first. */
  join: { urls?: string[]; token?: string; name?: string; runAfter: boolean };
  stateDir: string;
  mirrors: string[];
  insecureRegistries: string[];
  /** "" when the Docker API socket is off. */
  dockerSocket: string;
  dockerTcp?: Listen & { cert: string; key: string; ca: string };
  metrics?: Listen;
  logLevel: z.infer<typeof EnvSchema>["LOG_LEVEL"];
  networking: boolean;
  cgroupParent?: string;
  mountHelper: boolean;
  /** Largest build context accepted (bytes as sent). */
  buildContextLimit?: number;
  /** The underlay address for overlay networks, when the operator names one. */
  vtep?: string;
}

/** A configuration the agent cannot run with: the message is for the operator, the exit status 2. */
export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(
    message: string,
    /** No command was recognised: the whole usage text helps more than the message. */
    readonly showUsage = false,
  ) {
    super(message);
  }
}

function listenOf(v: string): Listen {
  const at = v.lastIndexOf(":");
  return { host: v.slice(0, at).replace(/^\[|\]$/g, ""), port: Number(v.slice(at + 1)) };
}

const issues = (e: z.ZodError) =>
  e.issues
    .map((i) => (i.message.startsWith("-") || /^[A-Z_]+ /.test(i.message) ? i.message : `${i.path.join(".")}: ${i.message}`))
    .join("; ");

/** Reads argv (after the program name) and the environment; throws ConfigError on anything wrong. */
export function loadConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): AgentConfig {
  const [cmd, ...rest] = argv;
  if (cmd === "version" || cmd === "--version") return { ...defaults(), command: "version" };
  if (cmd === "help" || cmd === "--help" || cmd === "-h") return { ...defaults(), command: "help" };
  if (cmd !== "join" && cmd !== "run") throw new ConfigError(cmd ? `unknown command ${JSON.stringify(cmd)}` : "a command is needed", true);
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args: [...rest], options: FLAGS, strict: true, allowPositionals: false }).values;
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
  // A flag wins over its environment variable.
  for (const [name, f] of Object.entries(FLAGS as Record<string, Flag>)) {
    if (values[name] !== undefined || !f.env || env[f.env] === undefined) continue;
    values[name] = f.multiple ? envList(env[f.env]) : env[f.env];
  }
  const args = ArgsSchema.safeParse(values);
  if (!args.success) throw new ConfigError(issues(args.error));
  const vars = EnvSchema.safeParse(env);
  if (!vars.success) throw new ConfigError(issues(vars.error));
  const a = args.data;
  let dockerTcp: AgentConfig["dockerTcp"];
  if (a["docker-tls-listen"]) {
    const { "docker-tls-cert": cert, "docker-tls-key": key, "docker-tls-ca": ca } = a;
    if (!cert || !key || !ca)
      throw new ConfigError(
        "--docker-tls-listen needs --docker-tls-cert, --docker-tls-key and --docker-tls-ca (TCP is served only with client certificates)",
      );
    dockerTcp = { ...listenOf(a["docker-tls-listen"]), cert, key, ca };
  }
  return {
    command: cmd,
    join: {
      ...(a.url ? { urls: a.url } : {}),
      ...(a.token ? { token: a.token } : {}),
      ...(a.name ? { name: a.name } : {}),
      runAfter: !a["no-run"],
    },
    stateDir: a["state-dir"],
    mirrors: a["registry-mirror"],
    insecureRegistries: a["insecure-registry"],
    dockerSocket: a["docker-socket"],
    ...(dockerTcp ? { dockerTcp } : {}),
    ...(a["metrics-listen"] ? { metrics: listenOf(a["metrics-listen"]) } : {}),
    ...(a.vtep ? { vtep: a.vtep } : {}),
    logLevel: vars.data.LOG_LEVEL,
    networking: vars.data.BERTH_NETWORKING === "1",
    ...(vars.data.BERTH_CGROUP_PARENT ? { cgroupParent: vars.data.BERTH_CGROUP_PARENT } : {}),
    mountHelper: vars.data.BERTH_MOUNT_HELPER === "1",
    ...(vars.data.BERTH_BUILD_CONTEXT_MAX ? { buildContextLimit: vars.data.BERTH_BUILD_CONTEXT_MAX } : {}),
  };
}

function defaults(): Omit<AgentConfig, "command"> {
  return {
    join: { runAfter: false },
    stateDir: "/var/lib/berth",
    mirrors: [],
    insecureRegistries: [],
    dockerSocket: "",
    logLevel: "info",
    networking: true,
    mountHelper: true,
  };
}
