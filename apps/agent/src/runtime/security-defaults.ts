import { readFileSync } from "node:fs";
import { DOCKER_DEFAULT_CAPABILITIES } from "@berth/protocol";
import { endianness, release } from "node:os";

/*
 * Docker's default confinement, so a container here is as confined as under dockerd.
 * The capability set follows ARCHITECTURE.md (Docker's default set, of which CAP_NET_RAW is no
 * longer part), the masked/readonly paths are Docker's, and so is the seccomp profile below.
 */

/** Docker's default capability set, shared with the control plane's container policy. */
export const DEFAULT_CAPABILITIES = DOCKER_DEFAULT_CAPABILITIES;

/** Every capability the kernel here knows (for --privileged and `--cap-add ALL`). */
export const ALL_CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
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

/*
 * The default seccomp profile: Docker's (moby profiles/seccomp/default.json), restated here as
 * data. It is an allow-list: anything not listed fails with EPERM, so a syscall that appears in a
 * newer kernel stays refused until someone decides it is safe. Some syscalls are allowed only with
 * the capability that guards them in the kernel, and a few only with harmless arguments.
 */

type Op = "SCMP_CMP_NE" | "SCMP_CMP_EQ" | "SCMP_CMP_MASKED_EQ";

/** One condition on a syscall argument (OCI LinuxSeccompArg). */
export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: Op;
}

/** One rule of an OCI seccomp profile (LinuxSyscall). */
export interface SeccompSyscall {
  names: string[];
  action: "SCMP_ACT_ALLOW" | "SCMP_ACT_ERRNO";
  errnoRet?: number;
  args?: SeccompArg[];
}

/** OCI LinuxSeccomp, as runc reads it from config.json. */
export interface SeccompProfile {
  defaultAction: "SCMP_ACT_ERRNO";
  defaultErrnoRet: number;
  architectures: string[];
  syscalls: SeccompSyscall[];
}

/** A rule of our profile, with the conditions under which it applies to a container. */
interface Rule {
  names: readonly string[];
  /** Allowed unless an errno is given, which the syscall then fails with. */
  errnoRet?: number;
  args?: readonly SeccompArg[];
  /** Only on these host architectures (Node's process.arch names). */
  arches?: readonly string[];
  /** Not on these host architectures. */
  exceptArches?: readonly string[];
  /** Only when the container holds this capability. */
  cap?: string;
  /** Only when the container does not hold this capability. */
  unlessCap?: string;
  /** Only from this kernel version on ([major, minor]). */
  minKernel?: readonly [number, number];
}

const EPERM = 1;
const ENOSYS = 38;
const AF_VSOCK = 40;
/** CLONE_NEWNS|CLONE_NEWCGROUP|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNET: creating any namespace. */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;

/** What every container may call: Docker's base allow-list. */
const ALLOWED = `
  accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32 clock_adjtime clock_adjtime64
  clock_getres clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep clock_nanosleep_time64 close close_range
  connect copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2
  epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64
  fallocate fanotify_mark fchdir fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock
  fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_time64
  futex_waitv futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups
  getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid getresgid32 getresuid
  getresuid32 getrlimit get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday getuid
  getuid32 getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents
  io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit io_uring_enter io_uring_register io_uring_setup
  ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat listen
  listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise membarrier memfd_create memfd_secret
  mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open
  mq_timedreceive mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync
  munlock munlockall munmap name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause pidfd_open
  pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2
  prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv
  recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr rename renameat renameat2 restart_syscall rmdir rseq
  rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64
  rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min
  sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
  sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send sendfile sendfile64
  sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid
  setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit set_robust_list
  setsid setsockopt set_thread_area set_tid_address setuid setuid32 setxattr shmat shmctl shmdt shmget shutdown sigaltstack
  signalfd signalfd4 sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statx symlink symlinkat
  sync sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun timer_gettime
  timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime
  timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat utimensat_time64
  utimes vfork vmsplice wait4 waitid waitpid write writev
`
  .trim()
  .split(/\s+/);

/** personality(2) personas that change nothing dangerous: Linux, UNAME26, ADDR_NO_RANDOMIZE and the query 0xffffffff. */
const PERSONAS = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

const guarded = (cap: string, names: readonly string[]): Rule => ({ cap, names });

const RULES: readonly Rule[] = [
  { names: ALLOWED },
  // Before 4.8 ptrace could be used to get around seccomp entirely.
  { names: ["process_vm_readv", "process_vm_writev", "ptrace"], minKernel: [4, 8] },
  // vsock reaches the hypervisor, not the container's network.
  { names: ["socket"], args: [{ index: 0, value: AF_VSOCK, op: "SCMP_CMP_NE" }] },
  ...PERSONAS.map((p): Rule => ({ names: ["personality"], args: [{ index: 0, value: p, op: "SCMP_CMP_EQ" }] })),
  { names: ["sync_file_range2", "swapcontext"], arches: ["ppc64"] },
  {
    names: ["arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"],
    arches: ["arm", "arm64"],
  },
  { names: ["arch_prctl"], arches: ["x64"] },
  { names: ["modify_ldt"], arches: ["x64", "ia32"] },
  { names: ["s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"], arches: ["s390", "s390x"] },
  { names: ["riscv_flush_icache"], arches: ["riscv64"] },
  guarded("CAP_DAC_READ_SEARCH", ["open_by_handle_at"]),
  guarded("CAP_SYS_ADMIN", [
    "bpf",
    "clone",
    "clone3",
    "fanotify_init",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "lookup_dcookie",
    "mount",
    "mount_setattr",
    "move_mount",
    "open_tree",
    "perf_event_open",
    "quotactl",
    "quotactl_fd",
    "setdomainname",
    "sethostname",
    "setns",
    "syslog",
    "umount",
    "umount2",
    "unshare",
  ]),
  // Without CAP_SYS_ADMIN, threads and processes but no new namespaces (a user namespace would
  // give back every capability inside it). s390 swaps clone's first two arguments.
  {
    names: ["clone"],
    unlessCap: "CAP_SYS_ADMIN",
    args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }],
    exceptArches: ["s390", "s390x"],
  },
  {
    names: ["clone"],
    unlessCap: "CAP_SYS_ADMIN",
    args: [{ index: 1, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }],
    arches: ["s390", "s390x"],
  },
  // clone3 passes its flags in memory, out of seccomp's sight: ENOSYS makes libc fall back to clone.
  { names: ["clone3"], unlessCap: "CAP_SYS_ADMIN", errnoRet: ENOSYS },
  guarded("CAP_SYS_BOOT", ["reboot"]),
  guarded("CAP_SYS_CHROOT", ["chroot"]),
  guarded("CAP_SYS_MODULE", ["delete_module", "init_module", "finit_module"]),
  guarded("CAP_SYS_PACCT", ["acct"]),
  guarded("CAP_SYS_PTRACE", ["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"]),
  guarded("CAP_SYS_RAWIO", ["iopl", "ioperm"]),
  guarded("CAP_SYS_TIME", ["settimeofday", "stime", "clock_settime", "clock_settime64"]),
  guarded("CAP_SYS_TTY_CONFIG", ["vhangup"]),
  guarded("CAP_SYS_NICE", ["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"]),
  guarded("CAP_SYSLOG", ["syslog"]),
  guarded("CAP_BPF", ["bpf"]),
  guarded("CAP_PERFMON", ["perf_event_open"]),
];

/**
 * libseccomp architectures for a host: the native one, and its 32-bit ABI only for an image built
 * for it (`compat32`). Docker always adds the 32-bit ABIs, and x32 too; Berth leaves them out for
 * the images that do not need them: their syscalls are then refused outright (the compat layers are
 * extra kernel attack surface), and the filter runc compiles at every start is a third the size
 * (about 12 ms less per start here). x32 is never allowed: no image is built for it.
 */
function seccompArches(arch: string, compat32: boolean): string[] {
  switch (arch) {
    case "x64":
      return ["SCMP_ARCH_X86_64", ...(compat32 ? ["SCMP_ARCH_X86"] : [])];
    case "arm64":
      return ["SCMP_ARCH_AARCH64", ...(compat32 ? ["SCMP_ARCH_ARM"] : [])];
    case "ia32":
      return ["SCMP_ARCH_X86"];
    case "arm":
      return ["SCMP_ARCH_ARM"];
    case "s390x":
      return ["SCMP_ARCH_S390X", ...(compat32 ? ["SCMP_ARCH_S390"] : [])];
    case "riscv64":
      return ["SCMP_ARCH_RISCV64"];
    case "ppc64":
      return [endianness() === "LE" ? "SCMP_ARCH_PPC64LE" : "SCMP_ARCH_PPC64"];
    default:
      return []; // runc then filters the native architecture only
  }
}

function kernelAtLeast(release: string, [major, minor]: readonly [number, number]): boolean {
  const [maj = 0, min = 0] = release.split(/[.-]/, 2).map(Number);
  return maj > major || (maj === major && min >= minor);
}

/** The host a profile is built for; tests pass another to see what a different host gets. */
export interface SeccompHost {
  arch: string;
  kernelRelease: string;
  /** The container's image is for the host's 32-bit ABI (386 on amd64, arm on arm64, s390 on s390x). */
  compat32?: boolean;
}

/** OCI architecture names of the 32-bit ABI each 64-bit host (Node's process.arch) also runs. */
const COMPAT32: Record<string, string> = { x64: "386", arm64: "arm", s390x: "s390" };

/** Does an image for `imageArch` (OCI names) run on this host through its 32-bit ABI? Unknown counts as yes. */
export function needsCompat32(imageArch: string | undefined, hostArch: string = process.arch): boolean {
  return imageArch === undefined || imageArch === COMPAT32[hostArch];
}

/** The default seccomp profile for a container with these capabilities on this host (Docker's semantics). */
export function defaultSeccompProfile(
  caps: readonly string[],
  host: SeccompHost = { arch: process.arch, kernelRelease: release(), compat32: false },
): SeccompProfile {
  const held = new Set(caps);
  const applies = (r: Rule) =>
    (!r.cap || held.has(r.cap)) &&
    !(r.unlessCap && held.has(r.unlessCap)) &&
    (!r.arches || r.arches.includes(host.arch)) &&
    !r.exceptArches?.includes(host.arch) &&
    (!r.minKernel || kernelAtLeast(host.kernelRelease, r.minKernel));
  // Plain allows go into one sorted rule (easier to read in config.json); the rest stay as they are.
  const plain = new Set<string>();
  const special: SeccompSyscall[] = [];
  for (const r of RULES.filter(applies)) {
    if (!r.args && r.errnoRet === undefined) {
      for (const n of r.names) plain.add(n);
    } else {
      special.push({
        names: [...r.names],
        action: r.errnoRet === undefined ? "SCMP_ACT_ALLOW" : "SCMP_ACT_ERRNO",
        ...(r.errnoRet === undefined ? {} : { errnoRet: r.errnoRet }),
        ...(r.args ? { args: r.args.map((a) => ({ ...a })) } : {}),
      });
    }
  }
  return {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: EPERM,
    architectures: seccompArches(host.arch, host.compat32 ?? false),
    syscalls: [{ names: [...plain].sort(), action: "SCMP_ACT_ALLOW" }, ...special],
  };
}

/**
 * Capabilities this agent holds (its bounding set): a container can never get more, so
 * `--privileged` and `--cap-add ALL` mean "all of these", as with dockerd.
 */
export function hostCapabilities(): string[] {
  try {
    const line = readFileSync("/proc/self/status", "utf8")
      .split("\n")
      .find((l) => l.startsWith("CapBnd:"));
    const mask = BigInt(`0x${line?.split(/\s+/)[1] ?? "0"}`);
    return ALL_CAPABILITIES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
  } catch {
    return [...ALL_CAPABILITIES];
  }
}
