// `docker cp`: HEAD/GET/PUT /containers/{id}/archive, and `docker diff` (GET …/changes). Reads and
// writes go through the container's own view of its filesystem, its volumes and binds included
// whether it runs or not; uploads are unpacked under the same strict filter as image layers.
// A running container is frozen for the whole request, streaming included (withContainerRoot), so
// nothing in it can swap a resolved path for a link to the host between our check and our use.
import { lstat, readdir, readlink } from "node:fs/promises";
import type { Stats } from "node:fs";
import { basename, dirname, relative } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Pack } from "tar";
import { containerChanges, withContainerRoot } from "../containers/index.ts";
import { resolveInRoot as resolvePath } from "../containers/index.ts";
import { unpackLayer } from "../snapshots/index.ts";
import type { ApiContext } from "./context.ts";
import { badRequest, DockerApiError } from "./errors.ts";
import type { Router } from "./router.ts";
import type { DockerApiOptions } from "./server.ts";

const STAT_HEADER = "X-Docker-Container-Path-Stat";

/** A path inside the container's root, links resolved within it (see root-path.ts). */
function resolveInRoot(root: string, path: string, followLast: boolean): string {
  const host = resolvePath(root, path, { followLast });
  if (host === null) throw badRequest(`too many levels of symbolic links in ${path}`);
  return host;
}

/** Go's os.FileMode type bits, which the docker CLI reads from the stat header. */
function goFileMode(st: Stats): number {
  let mode = st.mode & 0o777;
  if (st.mode & 0o4000) mode |= 1 << 23; // setuid
  if (st.mode & 0o2000) mode |= 1 << 22; // setgid
  if (st.mode & 0o1000) mode |= 1 << 20; // sticky
  if (st.isDirectory()) mode |= 1 << 31;
  else if (st.isSymbolicLink()) mode |= 1 << 27;
  else if (st.isFIFO()) mode |= 1 << 25;
  else if (st.isSocket()) mode |= 1 << 24;
  else if (st.isCharacterDevice()) mode |= (1 << 26) | (1 << 21);
  else if (st.isBlockDevice()) mode |= 1 << 26;
  return mode >>> 0;
}

function pathParam(ctx: ApiContext): string {
  const p = ctx.query.get("path");
  if (!p) throw badRequest("a path is required (?path=)");
  if (p.includes("\0")) throw badRequest("invalid path");
  return p;
}

async function statOf(host: string, requested: string, ref: string): Promise<{ st: Stats; header: string }> {
  const st = await lstat(host).catch(() => null);
  if (!st) throw new DockerApiError(404, `Could not find the file ${requested} in container ${ref}`);
  const stat = {
    name: basename(requested.replace(/\/\.?$/, "")) || "/",
    size: st.size,
    mode: goFileMode(st),
    mtime: st.mtime.toISOString(),
    linkTarget: st.isSymbolicLink() ? await readlink(host) : "",
  };
  return { st, header: Buffer.from(JSON.stringify(stat)).toString("base64") };
}

/**
 * dockerd's check before an upload: into a mount only if it is writable, and onto the container's
 * own layer only if its root filesystem is not read-only. `containerPath` has its links resolved.
 */
function checkWritable(
  rec: { mounts?: Array<{ Destination: string; RW: boolean }>; config: { HostConfig: { ReadonlyRootfs?: boolean | null } } },
  containerPath: string,
): void {
  const inside = (dest: string) => {
    const rel = relative(dest, containerPath);
    return rel === "" || (!rel.startsWith("..") && !rel.startsWith("/"));
  };
  // The deepest mount holding the path is the one the container sees there.
  const mount = (rec.mounts ?? []).filter((m) => inside(m.Destination)).sort((a, b) => b.Destination.length - a.Destination.length)[0];
  if (mount && !mount.RW) throw badRequest("mounted volume is marked read-only");
  if (!mount && rec.config.HostConfig.ReadonlyRootfs) throw badRequest("container rootfs is marked read-only");
}

export function archiveRoutes(r: Router, o: DockerApiOptions): void {
  const deps = { containers: o.runtime.containers, snapshots: o.runtime.snapshots };
  // A trailing "/" or "/." asks for what a link points to, and "/." for a directory's contents.
  const follows = (p: string) => p.endsWith("/") || p.endsWith("/.");

  r.head("/containers/{id}/archive", async (ctx) => {
    const path = pathParam(ctx);
    const header = await withContainerRoot(
      deps,
      ctx.params.id!,
      async (root) => (await statOf(resolveInRoot(root, path, follows(path)), path, ctx.params.id!)).header,
    );
    ctx.stream(200, "application/x-tar", { [STAT_HEADER]: header }).end();
  });

  r.get("/containers/{id}/archive", async (ctx) => {
    const path = pathParam(ctx);
    await withContainerRoot(deps, ctx.params.id!, async (root) => {
      const host = resolveInRoot(root, path, follows(path));
      const { st, header } = await statOf(host, path, ctx.params.id!);
      const contentsOnly = path.endsWith("/.") && st.isDirectory();
      // Links inside the tree are archived as links, never followed.
      const pack = new Pack({ cwd: contentsOnly ? host : dirname(host), portable: false, strict: true });
      const names = contentsOnly ? (await readdir(host)).sort() : [basename(host)];
      const out = ctx.stream(200, "application/x-tar", { [STAT_HEADER]: header });
      for (const n of names) pack.add(n);
      pack.end();
      await pipeline(Readable.from(pack as unknown as AsyncIterable<Buffer>), out);
    });
  });

  r.put("/containers/{id}/archive", async (ctx) => {
    const path = pathParam(ctx);
    await withContainerRoot(deps, ctx.params.id!, async (root) => {
      const host = resolveInRoot(root, path, true);
      const st = await lstat(host).catch(() => null);
      if (!st) throw new DockerApiError(404, `Could not find the file ${path} in container ${ctx.params.id}`);
      if (!st.isDirectory()) throw badRequest(`extraction point is not a directory: ${path}`);
      checkWritable(o.runtime.containers.get(ctx.params.id!), `/${relative(root, host)}`);
      try {
        await unpackLayer(ctx.req, host, { isRoot: process.geteuid?.() === 0 });
      } catch (e) {
        throw badRequest(`cannot copy into ${path}: ${(e as Error).message}`);
      }
    });
    ctx.empty(200);
  });

  // `docker diff`: null when nothing changed, as dockerd encodes an empty list.
  r.get("/containers/{id}/changes", async (ctx) => {
    const changes = await containerChanges(deps, ctx.params.id!);
    ctx.json(200, changes.length ? changes : null);
  });
}
