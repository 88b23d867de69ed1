import { writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * podman's containers.conf for the benchmarks, as ARCHITECTURE.md configures the peer: cgroupfs,
 * file events, Docker's ulimits, and runc, the runtime Berth and dockerd use (podman would pick
 * crun when it is installed, and crun cannot run on a hybrid cgroup v1/v2 host). Returns its path.
 */
export function writePodmanConf(dir: string): string {
  const conf = join(dir, "containers.conf");
  writeFileSync(
    conf,
    `[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n` +
      `[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\nruntime = "runc"\n`,
  );
  return conf;
}
