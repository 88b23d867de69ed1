// The base image Berth can offer without the internet: Debian's busybox-static as a rootfs
// (the binary plus one symlink per applet, /etc/passwd and /etc/group), built reproducibly so
// that the same package always gives the same layer digest.
import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, rm, stat, symlink, writeFile, chmod, lstat, readlink, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { Readable } from "node:stream";
import * as tar from "tar";

const run = promisify(execFile);
export const BUSYBOX_BIN = "/bin/busybox";

/** A tar stream of the rootfs, and the binary's mtime used as the image's creation time. */
export async function busyboxRootfs(): Promise<{ tar: Readable; created: Date; cleanup(): Promise<void> }> {
  const bin = await stat(BUSYBOX_BIN).catch(() => {
    throw new Error(`${BUSYBOX_BIN} is missing: install Debian's busybox-static`);
  });
  const { stdout } = await run(BUSYBOX_BIN, ["--list-full"]);
  const applets = stdout
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => /^[a-z0-9/_[\].-]+$/i.test(l) && !l.includes(".."));
  const root = await mkdtemp(join(tmpdir(), "berth-busybox-"));
  const fixed = bin.mtime;
  const files = ["bin/busybox", "etc/passwd", "etc/group", "etc/hostname"];
  await mkdir(join(root, "bin"), { recursive: true });
  await copyFile(BUSYBOX_BIN, join(root, "bin/busybox"));
  await chmod(join(root, "bin/busybox"), 0o755);
  for (const a of applets) {
    if (a === "bin/busybox") continue;
    await mkdir(join(root, dirname(a)), { recursive: true });
    await symlink("/bin/busybox", join(root, a)).catch(() => {});
    files.push(a);
  }
  await mkdir(join(root, "etc"), { recursive: true });
  await writeFile(
    join(root, "etc/passwd"),
    "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
  );
  await writeFile(join(root, "etc/group"), "root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n");
  await writeFile(join(root, "etc/hostname"), "busybox\n");
  for (const d of ["root", "tmp", "home", "var", "dev", "proc", "sys"]) {
    await mkdir(join(root, d), { recursive: true });
    files.push(d);
  }
  await chmod(join(root, "tmp"), 0o1777);
  await chmod(join(root, "root"), 0o700);
  // Parent directories get entries of their own, so their modes do not depend on the unpacker.
  const dirs = new Set<string>();
  for (const f of files) for (let d = dirname(f); d !== "."; d = dirname(d)) dirs.add(d);
  const entries = [...new Set([...dirs, ...files])].sort();
  const stream = reproducibleTar(root, entries, fixed);
  return { tar: Readable.from(stream), created: fixed, cleanup: () => rm(root, { recursive: true, force: true }) };
}

/**
 * A ustar stream with only what a rootfs needs (type, mode, root owner, size, link target) and
 * one fixed mtime: no atime/ctime, so the same files always give the same bytes. node-tar's
 * packer either records atime/ctime or, in portable mode, clears group/other write bits.
 */
async function* reproducibleTar(root: string, entries: string[], mtime: Date): AsyncGenerator<Buffer> {
  for (const rel of entries) {
    const full = join(root, rel);
    const st = await lstat(full);
    const common = { path: rel, mode: st.mode & 0o7777, uid: 0, gid: 0, uname: "root", gname: "root", mtime };
    let header: tar.Header;
    if (st.isSymbolicLink()) header = new tar.Header({ ...common, type: "SymbolicLink", size: 0, linkpath: await readlink(full) });
    else if (st.isDirectory()) header = new tar.Header({ ...common, path: `${rel}/`, type: "Directory", size: 0 });
    else header = new tar.Header({ ...common, type: "File", size: st.size });
    const block = Buffer.alloc(512);
    header.encode(block, 0);
    if (header.needPax) throw new Error(`${rel}: path too long for a plain ustar header`);
    yield block;
    if (header.type === "File") {
      const data = await readFile(full);
      yield data;
      if (data.length % 512) yield Buffer.alloc(512 - (data.length % 512));
    }
  }
  yield Buffer.alloc(1024); // end of archive
}
