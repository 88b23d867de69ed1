import { z } from "zod";

/*
 * Container mounts in the Docker Engine API's shapes, and Docker's two ways to write them:
 * `-v src:dst[:mode]` (HostConfig.Binds, parsed by the daemon) and `--mount k=v,...` (parsed by the
 * CLI into HostConfig.Mounts). Both parsers give Docker's messages, so a user of the run dialog,
 * of the API or of the docker CLI reads the same errors as with Docker.
 */

export const PROPAGATIONS = ["shared", "rshared", "slave", "rslave", "private", "rprivate"] as const;
const CONSISTENCY = ["consistent", "cached", "delegated", "default"] as const;

/** Docker's mount.Mount (HostConfig.Mounts). */
export const MountSchema = z.object({
  Type: z.enum(["bind", "volume", "tmpfs"], { message: "mount type unknown: use bind, volume or tmpfs" }),
  Source: z.string().max(4096).optional(),
  Target: z.string().max(4096),
  ReadOnly: z.boolean().optional(),
  Consistency: z.enum(CONSISTENCY).optional(),
  BindOptions: z
    .object({
      Propagation: z.enum(PROPAGATIONS).optional(),
      NonRecursive: z.boolean().optional(),
      CreateMountpoint: z.boolean().optional(),
    })
    .nullable()
    .optional(),
  VolumeOptions: z
    .object({
      NoCopy: z.boolean().optional(),
      Labels: z.record(z.string().max(1024), z.string().max(65_536)).nullable().optional(),
      DriverConfig: z
        .object({
          Name: z.string().max(256).optional(),
          Options: z.record(z.string().max(256), z.string().max(4096)).nullable().optional(),
        })
        .nullable()
        .optional(),
      Subpath: z.string().max(4096).optional(),
    })
    .nullable()
    .optional(),
  TmpfsOptions: z
    .object({
      SizeBytes: z
        .number()
        .int()
        .min(0)
        .max(2 ** 50)
        .optional(),
      Mode: z.number().int().min(0).max(0o7777).optional(),
    })
    .nullable()
    .optional(),
});
export type Mount = z.output<typeof MountSchema>;

/**
 * Whether absolute `path` is one of `prefixes` or inside one, after `.`, `..` and repeated slashes
 * are folded. (Symlinks are the agent's business: it checks the resolved path too.)
 */
export function pathWithin(path: string, prefixes: readonly string[]): boolean {
  if (!path.startsWith("/")) return false;
  const p = normalizePath(path);
  return prefixes.some((raw) => {
    if (!raw.startsWith("/")) return false;
    const pre = normalizePath(raw);
    return pre === "/" || p === pre || p.startsWith(`${pre}/`);
  });
}

export class MountSpecError extends Error {
  override name = "MountSpecError";
}

/** A mount as the agent applies it, whichever syntax it came from. */
export interface ParsedMount {
  type: "bind" | "volume" | "tmpfs";
  /** Host path (bind), volume name ("" for an anonymous volume), or "" (tmpfs). */
  source: string;
  target: string;
  readOnly: boolean;
  /** bind: rprivate unless given. */
  propagation: (typeof PROPAGATIONS)[number];
  /** volume: do not copy the image's content into a new volume. */
  noCopy: boolean;
  /** The -v mode field as written ("" for --mount and for none). */
  mode: string;
  /** -v creates a missing bind source; --mount refuses it. */
  createSource: boolean;
  volumeLabels?: Record<string, string>;
  tmpfs?: { sizeBytes?: number; mode?: number };
}

const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

function checkTarget(spec: string, target: string): void {
  if (!target.startsWith("/"))
    throw new MountSpecError(
      `invalid volume specification: '${spec}': ` +
        `invalid mount config for type "volume": invalid mount path: '${target}' mount path must be absolute`,
    );
  if (target.replace(/\/+$/, "") === "")
    throw new MountSpecError(
      `invalid volume specification: '${spec}': invalid mount config for type "bind": invalid specification: destination can't be '/'`,
    );
}

/**
 * Docker's `-v` / HostConfig.Binds syntax on Linux: `dst` (an anonymous volume), `src:dst` or
 * `src:dst:mode`. An absolute `src` is a host path (bind); otherwise it names a volume.
 * Modes, comma-separated: rw|ro, z|Z, nocopy, a propagation, a consistency.
 */
export function parseBind(spec: string): ParsedMount {
  const parts = spec.split(":");
  if (spec === "" || parts.length > 3 || parts.some((p) => p === "")) throw new MountSpecError(`invalid volume specification: '${spec}'`);
  const [source, target, mode = ""] = parts.length === 1 ? ["", parts[0]!, ""] : (parts as [string, string, string?]);
  checkTarget(spec, target);
  let readOnly = false;
  let rwSeen = false;
  let propagation: ParsedMount["propagation"] | undefined;
  let noCopy = false;
  let label = false;
  for (const m of mode === "" ? [] : mode.split(",")) {
    if (m === "ro" || m === "rw") {
      if (rwSeen) throw new MountSpecError(`invalid mode: ${mode}`);
      rwSeen = true;
      readOnly = m === "ro";
    } else if (m === "z" || m === "Z") {
      if (label) throw new MountSpecError(`invalid mode: ${mode}`);
      label = true;
    } else if ((PROPAGATIONS as readonly string[]).includes(m)) {
      if (propagation) throw new MountSpecError(`invalid mode: ${mode}`);
      propagation = m as ParsedMount["propagation"];
    } else if (m === "nocopy") {
      if (noCopy) throw new MountSpecError(`invalid mode: ${mode}`);
      noCopy = true;
    } else if (!(CONSISTENCY as readonly string[]).includes(m)) {
      throw new MountSpecError(`invalid mode: ${mode}`);
    }
  }
  const bind = source.startsWith("/");
  if (!bind && source.length === 1)
    throw new MountSpecError(`create ${source}: volume name is too short, names should be at least two alphanumeric characters`);
  if (!bind && source !== "" && !VOLUME_NAME.test(source)) {
    throw new MountSpecError(
      `create ${source}: "${source}" includes invalid characters for a local volume name, ` +
        'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path',
    );
  }
  if (bind && noCopy) throw new MountSpecError(`invalid mode: ${mode}`);
  if (!bind && propagation)
    throw new MountSpecError(
      `invalid volume specification: '${spec}': invalid mount config for type "volume": field BindOptions must not be specified`,
    );
  return {
    type: bind ? "bind" : "volume",
    source: bind ? normalizePath(source) : source,
    target: normalizePath(target),
    readOnly,
    propagation: propagation ?? "rprivate",
    noCopy,
    mode,
    createSource: true,
  };
}

/** HostConfig.Mounts entries, validated as Docker's daemon validates them. */
export function fromMount(m: Mount): ParsedMount {
  const kind = `invalid mount config for type "${m.Type}"`;
  if (!m.Target) throw new MountSpecError(`${kind}: field Target must not be empty`);
  if (!m.Target.startsWith("/")) throw new MountSpecError(`${kind}: invalid mount path: '${m.Target}' mount path must be absolute`);
  if (m.Type !== "bind" && m.BindOptions) throw new MountSpecError(`${kind}: field BindOptions must not be specified`);
  if (m.Type !== "volume" && m.VolumeOptions) throw new MountSpecError(`${kind}: field VolumeOptions must not be specified`);
  if (m.Type !== "tmpfs" && m.TmpfsOptions) throw new MountSpecError(`${kind}: field TmpfsOptions must not be specified`);
  const base = {
    target: normalizePath(m.Target),
    readOnly: Boolean(m.ReadOnly),
    propagation: "rprivate" as const,
    noCopy: false,
    mode: "",
    createSource: false,
  };
  if (m.Type === "bind") {
    if (!m.Source) throw new MountSpecError(`${kind}: field Source must not be empty`);
    if (!m.Source.startsWith("/")) throw new MountSpecError(`${kind}: invalid mount path: '${m.Source}' mount path must be absolute`);
    return { ...base, type: "bind", source: normalizePath(m.Source), propagation: m.BindOptions?.Propagation ?? "rprivate" };
  }
  if (m.Type === "volume") {
    const name = m.Source ?? "";
    if (name !== "" && !VOLUME_NAME.test(name))
      throw new MountSpecError(`${kind}: invalid volume name '${name}': only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed`);
    if (m.VolumeOptions?.DriverConfig?.Name && m.VolumeOptions.DriverConfig.Name !== "local")
      throw new MountSpecError(`${kind}: volume driver ${m.VolumeOptions.DriverConfig.Name} is not available here (only local)`);
    if (m.VolumeOptions?.Subpath) throw new MountSpecError(`${kind}: volume subpaths are not supported yet`);
    return {
      ...base,
      type: "volume",
      source: name,
      noCopy: Boolean(m.VolumeOptions?.NoCopy),
      ...(m.VolumeOptions?.Labels ? { volumeLabels: m.VolumeOptions.Labels } : {}),
    };
  }
  if (m.Source) throw new MountSpecError(`${kind}: field Source must not be specified`);
  return {
    ...base,
    type: "tmpfs",
    source: "",
    tmpfs: {
      ...(m.TmpfsOptions?.SizeBytes ? { sizeBytes: m.TmpfsOptions.SizeBytes } : {}),
      ...(m.TmpfsOptions?.Mode !== undefined ? { mode: m.TmpfsOptions.Mode } : {}),
    },
  };
}

/** HostConfig.Tmpfs: `{"/run": "size=64m,mode=1777"}` as `--tmpfs /run:size=64m,mode=1777`. */
export function fromTmpfs(target: string, options: string): ParsedMount {
  if (!target.startsWith("/")) throw new MountSpecError(`invalid mount path: '${target}' mount path must be absolute`);
  const tmpfs: NonNullable<ParsedMount["tmpfs"]> = {};
  let readOnly = false;
  for (const o of options === "" ? [] : options.split(",")) {
    const [k, v = ""] = o.split("=", 2) as [string, string?];
    if (k === "size") tmpfs.sizeBytes = parseSize(v);
    else if (k === "mode") {
      if (!/^[0-7]{1,4}$/.test(v)) throw new MountSpecError(`invalid tmpfs option: mode=${v}`);
      tmpfs.mode = parseInt(v, 8);
    } else if (k === "ro" || k === "rw") readOnly = k === "ro";
    else if (
      ![
        "exec",
        "noexec",
        "suid",
        "nosuid",
        "dev",
        "nodev",
        "atime",
        "noatime",
        "relatime",
        "strictatime",
        "nr_inodes",
        "uid",
        "gid",
      ].includes(k)
    )
      throw new MountSpecError(`invalid tmpfs option: ${o}`);
  }
  return {
    type: "tmpfs",
    source: "",
    target: normalizePath(target),
    readOnly,
    propagation: "rprivate",
    noCopy: false,
    mode: options,
    createSource: false,
    tmpfs,
  };
}

/**
 * The docker CLI's `--mount` syntax, parsed into HostConfig.Mounts as the CLI does (for the run
 * dialog and scripts): `type=volume,source=data,target=/data,readonly,volume-nocopy`.
 */
export function parseMountFlag(value: string): Mount {
  const m: {
    Type: Mount["Type"];
    Source?: string;
    Target?: string;
    ReadOnly?: boolean;
    BindOptions?: NonNullable<Mount["BindOptions"]>;
    VolumeOptions?: NonNullable<Mount["VolumeOptions"]>;
    TmpfsOptions?: NonNullable<Mount["TmpfsOptions"]>;
  } = { Type: "volume" };
  const truthy = (key: string, v: string | undefined) => {
    if (v === undefined || ["1", "true"].includes(v.toLowerCase())) return true;
    if (["0", "false"].includes(v.toLowerCase())) return false;
    throw new MountSpecError(
      `invalid value for '${key}': invalid boolean value (${JSON.stringify(v)}): ` +
        'must be one of "true", "1", "false", or "0" (default "true")',
    );
  };
  for (const field of value.split(",")) {
    if (field === "") continue;
    const eq = field.indexOf("=");
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const v = eq < 0 ? undefined : field.slice(eq + 1);
    if (v === undefined && !["readonly", "ro", "volume-nocopy"].includes(key))
      throw new MountSpecError(`invalid field '${field}' must be a key=value pair`);
    switch (key) {
      case "type":
        if (v !== "bind" && v !== "volume" && v !== "tmpfs")
          throw new MountSpecError(`invalid value for 'type': ${v} (use bind, volume or tmpfs)`);
        m.Type = v;
        break;
      case "source":
      case "src":
        m.Source = v!;
        break;
      case "target":
      case "dst":
      case "destination":
        m.Target = v!;
        break;
      case "readonly":
      case "ro":
        m.ReadOnly = truthy(key, v);
        break;
      case "bind-propagation":
        if (!(PROPAGATIONS as readonly string[]).includes(v!)) throw new MountSpecError(`invalid value for bind-propagation: ${v}`);
        m.BindOptions = { ...m.BindOptions, Propagation: v as (typeof PROPAGATIONS)[number] };
        break;
      case "volume-nocopy":
        m.VolumeOptions = { ...m.VolumeOptions, NoCopy: truthy(key, v) };
        break;
      case "volume-label": {
        const [lk, lv = ""] = v!.split("=", 2) as [string, string?];
        m.VolumeOptions = { ...m.VolumeOptions, Labels: { ...(m.VolumeOptions?.Labels ?? {}), [lk]: lv } };
        break;
      }
      case "tmpfs-size":
        m.TmpfsOptions = { ...m.TmpfsOptions, SizeBytes: parseSize(v!) };
        break;
      case "tmpfs-mode":
        if (!/^[0-7]{1,4}$/.test(v!)) throw new MountSpecError(`invalid value for tmpfs-mode: ${v}`);
        m.TmpfsOptions = { ...m.TmpfsOptions, Mode: parseInt(v!, 8) };
        break;
      default:
        throw new MountSpecError(`unknown option '${key}' in '${field}'`);
    }
  }
  // The CLI leaves these two to the daemon; its messages are given here.
  if (!m.Target) throw new MountSpecError(`invalid mount config for type "${m.Type}": field Target must not be empty`);
  if (m.Type === "bind" && !m.Source) throw new MountSpecError('invalid mount config for type "bind": field Source must not be empty');
  if (m.Type !== "volume" && m.VolumeOptions) throw new MountSpecError(`cannot mix 'volume-*' options with mount type '${m.Type}'`);
  if (m.Type !== "bind" && m.BindOptions) throw new MountSpecError(`cannot mix 'bind-*' options with mount type '${m.Type}'`);
  if (m.Type !== "tmpfs" && m.TmpfsOptions) throw new MountSpecError(`cannot mix 'tmpfs-*' options with mount type '${m.Type}'`);
  return MountSchema.parse(m);
}

/** Sizes as Docker's tmpfs options take them: bytes, or with k/m/g (binary units). */
function parseSize(v: string): number {
  const m = /^(\d+)([kmg]?)b?$/i.exec(v.trim());
  if (!m) throw new MountSpecError(`invalid size: '${v}'`);
  return Number(m[1]) * ({ "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 } as Record<string, number>)[m[2]!.toLowerCase()]!;
}

/** Docker's filepath.Clean of an absolute path: no duplicate or trailing slashes, `.` dropped, `..` resolved lexically. */
export function normalizePath(p: string): string {
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return `/${out.join("/")}`;
}
