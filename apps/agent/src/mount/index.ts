/** The mount layer's front door: mounting, whiteouts and xattrs, and the mount-table check. */
export { mkWhiteout, mknod } from "./mknod.ts";
export { mountAll, MountError, unmount } from "./mount.ts";
export type { Mount } from "./mount.ts";
export { isMountPoint, mountOf } from "./mountinfo.ts";
export { setMountHelper, warmMountHelper } from "./syscall-helper.ts";
export { findXattrs, setXattr } from "./xattr.ts";
