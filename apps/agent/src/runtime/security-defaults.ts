import { readFileSync } from "node:fs";

/*
 * Docker's default confinement, so a container here is as confined as under dockerd.
 * The capability set follows ARCHITECTURE.md (Docker's default set, of which CAP_NET_RAW is no
 * longer part), the masked/readonly paths are Docker's, and the seccomp profile is ours: it
 * blocks the syscalls Docker's documentation lists as blocked by its default profile, and lets
 * each through when the capability that guards it is granted, as Docker's profile does.
 */

export const DEFAULT_CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
] as const;

/** Every capability the kernel here knows (for --privileged and `--cap-add ALL`). */
export const ALL_CAPABILITIES = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
  "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
  "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
  "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
] as const;

export const MASKED_PATHS = [
  "/proc/asound",
  "/proc/acpi",
  "/proc/interrupts",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
] as const;

export const READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"] as const;

/** Syscalls refused with EPERM unless the container holds the capability named beside them. */
const GUARDED_SYSCALLS: Record<string, readonly string[]> = {
  CAP_SYS_ADMIN: ["mount", "umount", "umount2", "pivot_root", "setns", "unshare", "quotactl", "lookup_dcookie", "perf_event_open", "fanotify_init", "open_by_handle_at", "name_to_handle_at", "bpf", "setdomainname", "sethostname"],
  CAP_SYSLOG: ["syslog"],
  CAP_SYS_BOOT: ["reboot", "kexec_load", "kexec_file_load"],
  CAP_SYS_MODULE: ["init_module", "finit_module", "delete_module", "create_module", "query_module", "get_kernel_syms"],
  CAP_SYS_TIME: ["settimeofday", "stime", "clock_settime", "clock_adjtime", "adjtimex"],
  CAP_SYS_PTRACE: ["ptrace", "process_vm_readv", "process_vm_writev", "kcmp"],
  CAP_SYS_PACCT: ["acct"],
  CAP_SYS_RAWIO: ["iopl", "ioperm"],
  CAP_SYS_NICE: ["mbind", "set_mempolicy", "move_pages", "get_mempolicy"],
};

/** Refused for everyone but privileged containers: obsolete, or a kernel attack surface with no container use. */
const ALWAYS_BLOCKED = ["add_key", "keyctl", "request_key", "nfsservctl", "swapon", "swapoff", "sysfs", "_sysctl", "uselib", "userfaultfd", "ustat", "vm86", "vm86old"];

const EPERM = 1;

/** The default seccomp profile for a container with these capabilities (OCI LinuxSeccomp). */
export function defaultSeccompProfile(caps: readonly string[]): object {
  const held = new Set(caps);
  const blocked = [...ALWAYS_BLOCKED];
  for (const [cap, calls] of Object.entries(GUARDED_SYSCALLS)) if (!held.has(cap)) blocked.push(...calls);
  return {
    defaultAction: "SCMP_ACT_ALLOW",
    architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
    syscalls: [{ names: blocked.sort(), action: "SCMP_ACT_ERRNO", errnoRet: EPERM }],
  };
}

/**
 * Capabilities this agent holds (its bounding set): a container can never get more, so
 * `--privileged` and `--cap-add ALL` mean "all of these", as with dockerd.
 */
export function hostCapabilities(): string[] {
  try {
    const line = readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith("CapBnd:"));
    const mask = BigInt(`0x${line?.split(/\s+/)[1] ?? "0"}`);
    return ALL_CAPABILITIES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
  } catch {
    return [...ALL_CAPABILITIES];
  }
}
