// RUN: a build container through the same runtime as every container (runc under conmon, Docker's
// default confinement, the build's network), its output streamed to the build, its upper
// directory's diff the step's layer. RUN --mount adds cache directories kept per host, secrets
// on a tmpfs (never in a layer), tmpfs mounts and read-only binds of the context or a stage.
import { createHash } from "node:crypto";
import { chmod, chown, lstat, mkdir, readdir, rm } from "node:fs/promises";
import { join, posix } from "node:path";
import type { ContainerService } from "../containers/index.ts";
import type { ImageService, StoredLayer } from "../images/index.ts";
import { chainIds } from "../images/index.ts";
import { diffLayer } from "../snapshots/index.ts";
import { BuildError, dockerfileError } from "./errors.ts";
import { EMPTY_LAYER_DIFF_ID } from "./layer-writer.ts";

export type RunMount =
  | { type: "cache"; target: string; id: string; mode: number; uid: number; gid: number; readonly: boolean }
  | { type: "secret"; target: string; id: string; required: boolean; mode: number; uid: number; gid: number }
  | { type: "tmpfs"; target: string; size?: number }
  | { type: "bind"; target: string; source: string; from?: string; rw: boolean };

/** Parses one `--mount=` value of RUN, as BuildKit's Dockerfile frontend reads it. */
export function parseRunMount(text: string, line: number, workdir: string): RunMount {
  const fields = new Map<string, string>();
  for (const part of text.split(",")) {
    if (!part) continue;
    const eq = part.indexOf("=");
    const k = (eq < 0 ? part : part.slice(0, eq)).toLowerCase();
    fields.set(k, eq < 0 ? "true" : part.slice(eq + 1));
  }
  const known = new Set([
    "type",
    "target",
    "dst",
    "destination",
    "source",
    "src",
    "from",
    "id",
    "sharing",
    "mode",
    "uid",
    "gid",
    "readonly",
    "ro",
    "rw",
    "readwrite",
    "required",
    "env",
    "size",
  ]);
  for (const k of fields.keys()) if (!known.has(k)) throw dockerfileError(line, `unexpected key '${k}' in '${text}'`);
  const type = fields.get("type") ?? "bind";
  const rawTarget = fields.get("target") ?? fields.get("dst") ?? fields.get("destination");
  const target = rawTarget ? posix.resolve(workdir || "/", rawTarget) : undefined;
  const num = (k: string, def: number, base = 10) => {
    const v = fields.get(k);
    if (v === undefined) return def;
    const n = Number.parseInt(v, base);
    if (!Number.isFinite(n) || n < 0) throw dockerfileError(line, `invalid ${k} ${JSON.stringify(v)} in '${text}'`);
    return n;
  };
  const bool = (k: string) => ["true", "1", ""].includes((fields.get(k) ?? "false").toLowerCase());
  switch (type) {
    case "cache":
      if (!target) throw dockerfileError(line, `mount type=cache needs a target`);
      return {
        type,
        target,
        id: fields.get("id") ?? target,
        mode: num("mode", 0o755, 8),
        uid: num("uid", 0),
        gid: num("gid", 0),
        readonly: bool("readonly") || bool("ro"),
      };
    case "secret": {
      const id = fields.get("id") ?? (rawTarget ? posix.basename(rawTarget) : undefined);
      if (!id) throw dockerfileError(line, `mount type=secret needs an id or a target`);
      const env = fields.get("env");
      if (env !== undefined) {
        // In the environment, the value would be written into the build container's record on disk.
        throw dockerfileError(
          line,
          "RUN --mount=type=secret,env= is not supported: mount the secret as a file (target=, default /run/secrets/<id>)",
        );
      }
      return {
        type,
        id,
        target: target ?? `/run/secrets/${id}`,
        required: bool("required"),
        mode: num("mode", 0o400, 8),
        uid: num("uid", 0),
        gid: num("gid", 0),
      };
    }
    case "tmpfs": {
      if (!target) throw dockerfileError(line, `mount type=tmpfs needs a target`);
      const size = fields.get("size");
      return { type, target, ...(size ? { size: num("size", 0) } : {}) };
    }
    case "bind":
      if (!target) throw dockerfileError(line, `mount type=bind needs a target`);
      return {
        type,
        target,
        source: fields.get("source") ?? fields.get("src") ?? ".",
        ...(fields.get("from") ? { from: fields.get("from")! } : {}),
        rw: bool("rw") || bool("readwrite"),
      };
    case "ssh":
      throw dockerfileError(
        line,
        "RUN --mount=type=ssh needs an SSH agent forwarded by a BuildKit session, which the classic build API has no way to carry",
      );
    default:
      throw dockerfileError(line, `unsupported mount type "${type}"`);
  }
}

export interface RunStepDeps {
  containers: ContainerService;
  images: ImageService;
  /** Per-host directories of `type=cache` mounts. */
  cacheMountDir: string;
}

export interface RunRequest {
  imageId: string;
  /** The image's layers: the step's layer is kept under its chain ID on top of them. */
  parentDiffIds: string[];
  argv: string[];
  /** ARG values for this RUN's environment (ENV of the same name wins, as in Docker). */
  env: string[];
  network: string;
  mounts: RunMount[];
  secrets: ReadonlyMap<string, Buffer>;
  /** Host paths of bind sources (the context, or a mounted stage), by the mount's target. */
  bindSources: ReadonlyMap<string, string>;
  buildId: string;
  signal: AbortSignal;
  onStarted(containerId: string): void;
  onOutput(text: string): void;
}

/** A cache mount's host directory: one per id, made on first use with the mount's owner and mode. */
async function cacheDir(root: string, m: Extract<RunMount, { type: "cache" }>): Promise<string> {
  const dir = join(root, createHash("sha256").update(m.id).digest("hex").slice(0, 32));
  const made = await mkdir(dir, { recursive: true, mode: m.mode });
  if (made) {
    await chmod(dir, m.mode);
    await chown(dir, m.uid, m.gid);
  }
  return dir;
}

/** Mount points the runtime made in the container's upper directory for our mounts go before its diff. */
async function dropMountPoints(upper: string, targets: string[]): Promise<void> {
  for (const t of targets) {
    const p = join(upper, t);
    const st = await lstat(p).catch(() => null);
    if (!st) continue;
    if ((st.isDirectory() && (await readdir(p)).length === 0) || (st.isFile() && st.size === 0))
      await rm(p, { recursive: true, force: true });
  }
}

/** Runs the command and returns its layer (null when it changed nothing), or throws Docker's error. */
export async function runStep(deps: RunStepDeps, req: RunRequest): Promise<StoredLayer | null> {
  const binds: string[] = [];
  const tmpfs: Record<string, string> = {};
  const files: Array<{ target: string; data: string; uid: string; gid: string; mode: number }> = [];
  const env = req.env;
  const targets: string[] = [];
  for (const m of req.mounts) {
    if (m.type === "cache") binds.push(`${await cacheDir(deps.cacheMountDir, m)}:${m.target}:${m.readonly ? "ro" : "rw"}`);
    else if (m.type === "tmpfs") tmpfs[m.target] = m.size ? `size=${m.size}` : "";
    else if (m.type === "bind") {
      const host = req.bindSources.get(m.target);
      if (!host) throw new BuildError(`RUN --mount source ${m.source} was not prepared`, "FAILED");
      binds.push(`${host}:${m.target}:${m.rw ? "rw" : "ro"}`);
    } else {
      const value = req.secrets.get(m.id);
      if (!value) {
        if (m.required) throw new BuildError(`secret ${m.id}: not found`, "INVALID");
        continue;
      }
      files.push({ target: m.target, data: value.toString("base64"), uid: String(m.uid), gid: String(m.gid), mode: m.mode });
    }
    targets.push(m.target);
  }
  const created = await deps.containers.create(
    {
      Image: req.imageId,
      Cmd: req.argv,
      Entrypoint: [],
      Env: env,
      Labels: { "berth.build": req.buildId },
      HostConfig: { NetworkMode: req.network, Binds: binds, ...(Object.keys(tmpfs).length ? { Tmpfs: tmpfs } : {}) },
    },
    undefined,
    { files },
  );
  const id = created.Id;
  let keepLayerAs: string | undefined;
  try {
    req.onStarted(id);
    const kill = () => void deps.containers.kill(id).catch(() => undefined);
    req.signal.addEventListener("abort", kill, { once: true });
    try {
      await deps.containers.start(id);
      for await (const entry of deps.containers.logs(id, { follow: true, stdout: true, stderr: true })) req.onOutput(entry.line);
      const { StatusCode } = await deps.containers.wait(id);
      if (req.signal.aborted) throw new BuildError("the build was cancelled", "FAILED");
      if (StatusCode !== 0) throw new BuildError(`The command '${req.argv.join(" ")}' returned a non-zero code: ${StatusCode}`, "FAILED");
    } finally {
      req.signal.removeEventListener("abort", kill);
    }
    const upper = await deps.containers.upperDir(id);
    await dropMountPoints(upper, targets);
    const layer = await deps.images.storeLayer(diffLayer(upper));
    if (layer.diffId === EMPTY_LAYER_DIFF_ID) return null;
    // The container's layer is the step's: kept as its snapshot, so recording the image unpacks nothing.
    keepLayerAs = chainIds([...req.parentDiffIds, layer.diffId]).at(-1)!;
    return layer;
  } finally {
    await deps.containers.remove(id, { force: true, ...(keepLayerAs ? { keepLayerAs } : {}) }).catch(() => undefined);
  }
}
