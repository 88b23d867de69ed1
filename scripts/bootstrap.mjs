#!/usr/bin/env node
// First step of `npm start`, `npm test` and `npm run bench`: plain Node with no dependencies,
// because it runs before node_modules exists. It installs what is missing and nothing else:
// Debian packages (as root, through apt-get with argument arrays), npm deps, and the Prisma client.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, statSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const script = process.env.npm_lifecycle_event ?? "start";

// Runtime needs of the agent and the control plane. `postgresql` only when no server binaries exist.
const runtimePackages = [
  "runc",
  "conmon",
  "tini",
  "python3",
  "nftables",
  "iproute2",
  "busybox-static",
  "docker-registry",
  "curl",
  "util-linux",
  "attr",
  // Encrypted overlay networks: WireGuard in userspace where the kernel has no module, and its `wg` tool.
  "wireguard-go",
  "wireguard-tools",
  // Builds from git repositories: the control plane fetches the context with git.
  "git",
];
// Tests drive Debian's Chromium and validate docker-compose.yml with docker-compose's own schema check.
// docker.io brings Debian's docker CLI (/usr/bin/docker, 20.10, API 1.41): the Docker API tests run
// it next to whatever newer CLI the machine has; its daemon is never used (disabled below).
// python3-docker is docker-py, a client the Docker API tests drive; crun is the second OCI runtime
// (HostConfig.Runtime) the container tests run.
const testPackages = [
  "chromium",
  "fonts-liberation",
  "docker-compose",
  "python3-docker",
  "skopeo",
  "umoci",
  "zstd",
  "docker.io",
  "crun",
  // The encrypted overlay test captures the lab's underlay.
  "tcpdump",
  // The load balancer in front of control-plane replicas in the replica tests.
  "haproxy",
];
// The benchmark's peers (dockerd comes with docker.io above).
const benchPackages = ["podman", "wrk", "iperf3"];

function log(msg) {
  process.stdout.write(`[berth setup] ${msg}\n`);
}

function dpkgInstalled(pkg) {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: ${Status} is dpkg-query's own format field, not a JavaScript template
  const r = spawnSync("dpkg-query", ["-W", "-f=${Status}", pkg], { encoding: "utf8" });
  return r.status === 0 && r.stdout.includes("install ok installed");
}

function postgresBinDir() {
  const base = "/usr/lib/postgresql";
  if (!existsSync(base)) return null;
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(base, versions[0], "bin") : null;
}

function ensureDebianPackages() {
  const wanted = [...runtimePackages];
  if (script === "test" || script === "e2e" || script === "bench") wanted.push(...testPackages);
  if (script === "bench") wanted.push(...benchPackages);
  if (!postgresBinDir()) wanted.push("postgresql");
  // docker.io conflicts with Docker's own packages: apt would remove them. Where they are
  // installed, their /usr/bin/docker is the CLI the tests use instead.
  const dockerCe = ["docker-ce", "docker-ce-cli"].filter(dpkgInstalled);
  if (dockerCe.length && wanted.includes("docker.io") && !dpkgInstalled("docker.io")) {
    log(`not installing docker.io: it conflicts with ${dockerCe.join(" ")}; the tests use that docker CLI instead of Debian's 20.10`);
    wanted.splice(wanted.indexOf("docker.io"), 1);
  }
  const missing = wanted.filter((p) => !dpkgInstalled(p));
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    log(`missing Debian packages: ${missing.join(" ")}. Run as root, or install them: apt-get install ${missing.join(" ")}`);
    process.exit(1);
  }
  log(`installing Debian packages: ${missing.join(" ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const listsEmpty =
    !existsSync("/var/lib/apt/lists") || readdirSync("/var/lib/apt/lists").filter((f) => f.endsWith("Packages")).length === 0;
  const install = () => spawnSync("apt-get", ["install", "-y", "--no-install-recommends", ...missing], { stdio: "inherit", env });
  if (listsEmpty) execFileSync("apt-get", ["update"], { stdio: "inherit", env });
  // Packages whose daemons Berth never uses (dockerd, docker-registry's) must not start while they
  // install: dockerd would change this host's bridges and firewall. policy-rc.d says so to apt.
  const policyRc = "/usr/sbin/policy-rc.d";
  const holdServices = !existsSync(policyRc);
  if (holdServices)
    writeFileSync(policyRc, "#!/bin/sh\n# Written by Berth's setup while it installs packages; removed after.\nexit 101\n", {
      mode: 0o755,
    });
  let r;
  try {
    r = install();
    if (r.status !== 0) {
      // Package lists may be stale (a 404 on an old version): refresh once and retry.
      execFileSync("apt-get", ["update"], { stdio: "inherit", env });
      r = install();
    }
  } finally {
    if (holdServices) rmSync(policyRc, { force: true });
  }
  if (r.status !== 0) {
    log("apt-get install failed");
    process.exit(1);
  }
  // docker-registry's Debian service listens on :5000 on all addresses; Berth runs its own on loopback.
  if (missing.includes("docker-registry")) {
    spawnSync("systemctl", ["disable", "--now", "docker-registry"], { stdio: "ignore" });
  }
  // dockerd is a bench peer only: the bench starts its own with its own data root and socket, and
  // the tests use docker.io's CLI alone. Failures are ignored: a CI container may have no systemd.
  if (missing.includes("docker.io")) {
    spawnSync("systemctl", ["disable", "--now", "docker.socket", "docker", "containerd"], { stdio: "ignore" });
  }
}

function mtime(p) {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return 0;
  }
}

function ensureNpmDeps() {
  const marker = join(root, "node_modules", ".package-lock.json");
  const lock = join(root, "package-lock.json");
  if (existsSync(marker) && mtime(marker) >= mtime(lock)) return;
  log("installing npm dependencies");
  const args = existsSync(lock) ? ["ci", "--no-audit", "--no-fund"] : ["install", "--no-audit", "--no-fund"];
  const r = spawnSync("npm", args, { cwd: root, stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

function ensurePrismaClient() {
  const generated = join(root, "packages/db/src/generated/client.ts");
  if (existsSync(generated) && mtime(generated) >= mtime(join(root, "prisma/schema.prisma"))) return;
  log("generating the Prisma client");
  const r = spawnSync(process.execPath, [join(root, "node_modules/tsx/dist/cli.mjs"), join(root, "scripts/prisma-generate.ts")], {
    cwd: root,
    stdio: "inherit",
  });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

ensureDebianPackages();
ensureNpmDeps();
ensurePrismaClient();
