/** The OCI runtime layer's front door: runc, conmon, the spec and its security defaults, process probes. */
export { attachRelay } from "./attach-relay.ts";
export type { AttachFrame, AttachRelay } from "./attach-relay.ts";
export { resolveBinary } from "./binaries.ts";
export { isConmon, readPidFile } from "./conmon-process.ts";
export { CONMON_CTL, createWithConmon, sendConmonControl } from "./conmon.ts";
export { execWithTty } from "./console-relay.ts";
export { nofileHardLimit } from "./process-limits.ts";
export { Runc, RuntimeError } from "./runc.ts";
export { OciRuntimes } from "./oci-runtimes.ts";
export { hostCapabilities } from "./security-defaults.ts";
export { SpecError, buildSpec, resources, resourceWarnings } from "./spec.ts";
export type { Namespace, OciMount } from "./spec.ts";
export { resolveDevices } from "./devices.ts";
export type { LinuxDevice } from "./devices.ts";
export { cgroupV2 } from "./cgroup-version.ts";
export { UserResolutionError, resolveUser } from "./users.ts";
