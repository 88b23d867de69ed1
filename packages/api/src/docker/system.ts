import { arch, cpus, release, totalmem } from "node:os";
import { API_VERSION, MIN_API_VERSION, type Router } from "@berth/docker-api";
import type { FleetRequest } from "./context.ts";
import { DOCKER_ARCH, managerNode, nodesOf } from "./nodes.ts";

/*
 * _ping, version and info for the fleet: a swarm that is active, whose one manager (and leader) is
 * the control plane and whose workers are the caller's hosts. `docker stack deploy` and
 * `docker node inspect self` read these to decide they are talking to a swarm manager.
 */

async function fleetCounts(r: FleetRequest) {
  const count = async (kind: "container" | "image", state?: string) =>
    (await r.api.fleet.list({ kind, limit: 1, ...(state ? { state } : {}) })).total;
  const [containers, running, paused, images] = await Promise.all([
    count("container"),
    count("container", "running"),
    count("container", "paused"),
    count("image"),
  ]);
  return { containers, running, paused, stopped: containers - running - paused, images };
}

export function systemRoutes(router: Router<FleetRequest>): void {
  const ping = (r: FleetRequest) => {
    r.res
      .writeHead(200, {
        "Content-Type": "text/plain; charset=utf-8",
        "Cache-Control": "no-cache, no-store, must-revalidate",
        "Api-Version": API_VERSION,
        "Docker-Experimental": "false",
        Ostype: "linux",
        Swarm: "active/manager",
      })
      .end(r.req.method === "HEAD" ? undefined : "OK");
  };
  router.get("/_ping", ping).head("/_ping", ping);

  router.get("/version", (r) => {
    const engine = {
      Version: r.cluster.version,
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: "",
      GoVersion: `node ${process.version}`,
      Os: "linux",
      Arch: process.arch === "x64" ? "amd64" : process.arch,
      KernelVersion: release(),
      BuildTime: "",
    };
    r.json(200, {
      Platform: { Name: "Berth fleet control plane" },
      Components: [{ Name: "Engine", Version: engine.Version, Details: { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION } }],
      ...engine,
    });
  });

  router.get("/info", async (r) => {
    const [nodes, counts] = await Promise.all([nodesOf(r), fleetCounts(r)]);
    const workers = nodes.filter((n) => n.Spec.Role === "worker");
    const manager = managerNode(r);
    const c = r.cluster;
    r.json(200, {
      ID: c.managerId,
      Name: manager.Description.Hostname,
      ServerVersion: c.version,
      OperatingSystem: "Berth fleet control plane",
      OSType: "linux",
      OSVersion: "",
      KernelVersion: release(),
      Architecture: DOCKER_ARCH[arch()] ?? arch(),
      // The fleet's capacity: every host the caller sees.
      NCPU: workers.reduce((n, w) => n + w.Description.Resources.NanoCPUs / 1e9, 0) || cpus().length,
      MemTotal: workers.reduce((n, w) => n + w.Description.Resources.MemoryBytes, 0) || totalmem(),
      Containers: counts.containers,
      ContainersRunning: counts.running,
      ContainersPaused: counts.paused,
      ContainersStopped: counts.stopped,
      Images: counts.images,
      Driver: "overlay2",
      DriverStatus: [],
      Plugins: { Volume: ["local"], Network: ["bridge", "host", "null", "overlay"], Authorization: null, Log: ["json-file"] },
      MemoryLimit: true,
      SwapLimit: false,
      CpuCfsPeriod: true,
      CpuCfsQuota: true,
      IPv4Forwarding: true,
      Debug: false,
      NFd: 0,
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: "json-file",
      CgroupDriver: "cgroupfs",
      NEventsListener: 0,
      IndexServerAddress: "https://index.docker.io/v1/",
      RegistryConfig: { IndexConfigs: {}, InsecureRegistryCIDRs: [], Mirrors: [] },
      Labels: [],
      ExperimentalBuild: false,
      LiveRestoreEnabled: true,
      Isolation: "",
      InitBinary: "",
      SecurityOptions: [],
      Runtimes: { runc: { path: "runc" } },
      DefaultRuntime: "runc",
      Warnings: [],
      Swarm: {
        NodeID: c.managerId,
        NodeAddr: c.managerAddr.replace(/:\d+$/, ""),
        LocalNodeState: "active",
        ControlAvailable: true,
        Error: "",
        RemoteManagers: [{ NodeID: c.managerId, Addr: c.managerAddr }],
        Nodes: nodes.length,
        Managers: nodes.length - workers.length,
        Cluster: {
          ID: c.clusterId,
          Version: { Index: 1 },
          CreatedAt: c.createdAt.toISOString(),
          UpdatedAt: c.createdAt.toISOString(),
          Spec: {
            Name: "default",
            Labels: {},
            // Swarm's own defaults, which Berth keeps: a slot's last 5 tasks, and so on.
            Orchestration: { TaskHistoryRetentionLimit: 5 },
            Raft: { SnapshotInterval: 10_000, KeepOldSnapshots: 0, LogEntriesForSlowFollowers: 500, ElectionTick: 10, HeartbeatTick: 1 },
            Dispatcher: { HeartbeatPeriod: 5_000_000_000 },
            CAConfig: { NodeCertExpiry: 7_776_000_000_000_000 },
            TaskDefaults: {},
            EncryptionConfig: { AutoLockManagers: false },
          },
          TLSInfo: {},
          RootRotationInProgress: false,
          DefaultAddrPool: ["10.0.0.0/8"],
          SubnetSize: 24,
          DataPathPort: 4789,
        },
      },
    });
  });
}
