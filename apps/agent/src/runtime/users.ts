import { lstat, readFile } from "node:fs/promises";
import { join } from "node:path";
import { AgentError } from "../errors.ts";

export class UserResolutionError extends AgentError {
  override name = "UserResolutionError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, "INVALID", options);
  }
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

/** Reads a file of the container's rootfs, refusing symlinks so nothing outside the rootfs is read. */
async function readRootfsFile(rootfs: string, path: string): Promise<string | null> {
  const abs = join(rootfs, path);
  try {
    if (!(await lstat(abs)).isFile()) return null;
    return await readFile(abs, "utf8");
  } catch {
    return null;
  }
}

const isId = (s: string) => /^\d+$/.test(s);

function entries(text: string | null): string[][] {
  return (text ?? "")
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.split(":"));
}

/**
 * Resolves Docker's `User` (`name`, `uid`, `name:group`, `uid:gid`, ...) through the image's
 * /etc/passwd and /etc/group, as Docker does: a numeric uid need not exist there, a name must;
 * the user's supplementary groups come from /etc/group.
 */
export async function resolveUser(rootfs: string, user: string | undefined, groupAdd: readonly string[] = []): Promise<ResolvedUser> {
  const spec = user?.trim() || "0";
  const [u, g] = spec.split(":", 2) as [string, string | undefined];
  const passwd = entries(await readRootfsFile(rootfs, "/etc/passwd"));
  const groups = entries(await readRootfsFile(rootfs, "/etc/group"));

  const pw = passwd.find((e) => (isId(u) ? e[2] === u : e[0] === u));
  if (!pw && !isId(u)) throw new UserResolutionError(`unable to find user ${u}: no matching entries in passwd file`);
  const uid = isId(u) ? Number(u) : Number(pw![2]);
  let gid = pw ? Number(pw[3]) : 0;
  if (g !== undefined && g !== "") {
    if (isId(g)) gid = Number(g);
    else {
      const gr = groups.find((e) => e[0] === g);
      if (!gr) throw new UserResolutionError(`unable to find group ${g}: no matching entries in group file`);
      gid = Number(gr[2]);
    }
  }
  if (uid > 2 ** 32 - 2 || gid > 2 ** 32 - 2) throw new UserResolutionError(`uids and gids must be in range 0-${2 ** 32 - 2}`);
  // Supplementary groups are those listing the user by name, only when no group was given explicitly.
  const additionalGids: number[] =
    pw && g === undefined
      ? groups
          .filter((e) => (e[3] ?? "").split(",").includes(pw[0]!))
          .map((e) => Number(e[2]))
          .filter((n) => n !== gid)
      : [];
  // `--group-add`: numbers as they are, names through the image's /etc/group (dockerd's message when absent).
  for (const add of groupAdd) {
    if (isId(add)) additionalGids.push(Number(add));
    else {
      const gr = groups.find((e) => e[0] === add);
      if (!gr) throw new UserResolutionError(`Unable to find group ${add}: no matching entries in group file`);
      additionalGids.push(Number(gr[2]));
    }
  }
  return { uid, gid, additionalGids: [...new Set(additionalGids)], home: pw?.[5] || "/" };
}
