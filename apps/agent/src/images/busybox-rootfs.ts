// The base image Berth can offer without the internet: Debian's busybox-static as a rootfs
// (the binary plus one symlink per applet, /etc/passwd and /etc/group), built reproducibly so
// that the same package always gives the same layer digest.
import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, rm, stat, symlink, writeFile, chmod, lutimes, utimes } from "node:fs/promises";
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
  const applets = stdout.split("\n").map((l) => l.trim()).filter((l) => /^[a-z0-9/_[\].-]+$/i.test(l) && !l.includes(".."));
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
  await writeFile(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n");
  await writeFile(join(root, "etc/group"), "root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n");
  await writeFile(join(root, "etc/hostname"), "busybox\n");
  for (const d of ["root", "tmp", "home", "var", "dev", "proc", "sys"]) {
    await mkdir(join(root, d), { recursive: true });
    files.push(d);
  }
  await chmod(join(root, "tmp"), 0o1777);
  await chmod(join(root, "root"), 0o700);
  // Same timestamps every time, so the tar (and its digest) only changes with the package.
  for (const f of files) {
    const p = join(root, f);
    if (f.startsWith("bin/busybox") || !applets.includes(f)) await utimes(p, fixed, fixed).catch(() => {});
    else await lutimes(p, fixed, fixed).catch(() => {});
  }
  // Parent directories get entries of their own, so their modes do not depend on the unpacker.
  const dirs = new Set<string>();
  for (const f of files) for (let d = dirname(f); d !== "."; d = dirname(d)) dirs.add(d);
  for (const d of dirs) await utimes(join(root, d), fixed, fixed);
  const entries = [...new Set([...dirs, ...files])].sort();
  const stream = tar.c({ cwd: root, portable: true, follow: false, mtime: fixed, noDirRecurse: true }, entries);
  return { tar: Readable.from(stream), created: fixed, cleanup: () => rm(root, { recursive: true, force: true }) };
}
