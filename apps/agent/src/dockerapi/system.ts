// System endpoints: _ping, version, info, events, system/df, auth (the build cache is in builder.ts).
import { z } from "zod";
import type { AgentEvent } from "../containers/index.ts";
import { collectHostFacts } from "../facts/index.ts";
import { AGENT_VERSION } from "../version.ts";
import type { Router } from "./router.ts";
import type { DockerApiOptions } from "./server.ts";
import { filtersParam, labelsMatch, timeParam, type Filters } from "@berth/docker-api";
import { API_VERSION, MIN_API_VERSION, atLeast } from "@berth/docker-api";
import { containerSizes, directorySize } from "./sizes.ts";
import { diskUsageTypes, imageSummaryForVersion } from "@berth/docker-api";

const DOCKER_ARCH: Record<string, string> = { amd64: "x86_64", arm64: "aarch64" };
const EVENT_FILTERS = [
  "type",
  "event",
  "container",
  "image",
  "network",
  "volume",
  "label",
  "scope",
  "daemon",
  "plugin",
  "node",
  "service",
  "secret",
  "config",
] as const;

/** An event in Docker's wire shape: container events also carry the older status/id/from fields. */
function wireEvent(e: AgentEvent): Record<string, unknown> {
  const { seq: _seq, ...rest } = e;
  return e.Type === "container" ? { status: e.Action, id: e.Actor.ID, from: e.Actor.Attributes.image ?? "", ...rest } : rest;
}

function eventMatches(e: AgentEvent, f: Filters): boolean {
  const any = (key: string, candidates: Array<string | undefined>) => {
    const want = f.get(key);
    if (!want?.length) return true;
    return want.some((w) =>
      candidates.some(
        (c) => c !== undefined && (c === w || (key !== "event" && c.startsWith(w) && w.length >= 3 && /^[0-9a-f]+$/.test(w))),
      ),
    );
  };
  const a = e.Actor.Attributes;
  if (!any("type", [e.Type])) return false;
  // "health_status: healthy" matches the filter "health_status" as in dockerd.
  if (!any("event", [e.Action, e.Action.split(":")[0]])) return false;
  if (f.get("container")?.length && (e.Type !== "container" || !any("container", [e.Actor.ID, a.name]))) return false;
  if (f.get("image")?.length && !any("image", [a.image, ...(e.Type === "image" ? [e.Actor.ID, a.name] : [])])) return false;
  if (f.get("network")?.length && (e.Type !== "network" || !any("network", [e.Actor.ID, a.name]))) return false;
  if (f.get("volume")?.length && (e.Type !== "volume" || !any("volume", [e.Actor.ID]))) return false;
  if (!any("scope", ["local"])) return false;
  return labelsMatch(a, f.get("label"));
}

export function systemRoutes(r: Router, o: DockerApiOptions): void {
  const rt = o.runtime;
  const ping = (ctx: Parameters<Parameters<Router["get"]>[1]>[0]) => {
    const headers = { "Cache-Control": "no-cache, no-store, must-revalidate", Pragma: "no-cache", "Builder-Version": "1" };
    if (ctx.method === "HEAD") {
      const s = ctx.stream(200, "text/plain; charset=utf-8", headers);
      s.end();
      return;
    }
    const s = ctx.stream(200, "text/plain; charset=utf-8", headers);
    s.end("OK");
  };
  r.get("/_ping", ping).head("/_ping", ping);

  r.get("/version", async (ctx) => {
    const facts = await collectHostFacts(o.stateDir);
    const engine = {
      Version: AGENT_VERSION,
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: "",
      GoVersion: `node ${process.version}`,
      Os: "linux",
      Arch: facts.arch,
      KernelVersion: facts.kernel,
      BuildTime: "",
    };
    ctx.json(200, {
      Platform: { Name: "Berth" },
      Components: [
        {
          Name: "Engine",
          Version: AGENT_VERSION,
          Details: {
            ApiVersion: API_VERSION,
            MinAPIVersion: MIN_API_VERSION,
            Os: "linux",
            Arch: facts.arch,
            KernelVersion: facts.kernel,
            GoVersion: engine.GoVersion,
            GitCommit: "",
            BuildTime: "",
            Experimental: "false",
          },
        },
        ...(facts.versions.runc ? [{ Name: "runc", Version: facts.versions.runc, Details: { GitCommit: "" } }] : []),
        ...(facts.versions.conmon ? [{ Name: "conmon", Version: facts.versions.conmon, Details: {} }] : []),
      ],
      ...engine,
    });
  });

  r.get("/info", async (ctx) => {
    const facts = await collectHostFacts(o.stateDir);
    const containers = rt.containers.list({ all: true });
    const state = (s: string) => containers.filter((c) => c.State === s).length;
    const images = await rt.images.list();
    ctx.json(200, {
      ID: `berth-${facts.hostname}`,
      Containers: containers.length,
      ContainersRunning: state("running"),
      ContainersPaused: state("paused"),
      ContainersStopped: containers.length - state("running") - state("paused"),
      Images: images.length,
      Driver: "overlay",
      DriverStatus: [["Backing Filesystem", "overlayfs snapshots (Berth)"]],
      Plugins: {
        Volume: ["local"],
        Network: rt.networks ? ["bridge", "host", "null"] : ["host", "null"],
        Authorization: null,
        Log: ["json-file", "k8s-file", "local"],
      },
      MemoryLimit: true,
      SwapLimit: true,
      CpuCfsPeriod: true,
      CpuCfsQuota: true,
      CPUShares: true,
      CPUSet: true,
      PidsLimit: true,
      OomKillDisable: true,
      IPv4Forwarding: true,
      // Berth filters with nftables and does not need br_netfilter: false, as dockerd reports them
      // to API versions that still have the fields (older CLIs print their own warnings for it).
      BridgeNfIptables: false,
      BridgeNfIp6tables: false,
      Debug: false,
      NFd: 0,
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: "k8s-file",
      CgroupDriver: "cgroupfs",
      CgroupVersion: "1",
      NEventsListener: 0,
      KernelVersion: facts.kernel,
      OperatingSystem: facts.os.prettyName,
      OSVersion: facts.os.version,
      OSType: "linux",
      Architecture: DOCKER_ARCH[facts.arch] ?? facts.arch,
      IndexServerAddress: "https://index.docker.io/v1/",
      RegistryConfig: {
        AllowNondistributableArtifactsCIDRs: null,
        AllowNondistributableArtifactsHostnames: null,
        InsecureRegistryCIDRs: ["127.0.0.0/8"],
        IndexConfigs: {},
        Mirrors: rt.mirrors,
      },
      NCPU: facts.cpus,
      MemTotal: facts.memoryBytes,
      GenericResources: null,
      DockerRootDir: o.stateDir,
      HttpProxy: "",
      HttpsProxy: "",
      NoProxy: "",
      Name: facts.hostname,
      Labels: [],
      ExperimentalBuild: false,
      ServerVersion: AGENT_VERSION,
      Runtimes: Object.fromEntries(rt.containers.runc.names().map((name) => [name, { path: rt.containers.runc.byName(name).binary }])),
      DefaultRuntime: "runc",
      Swarm: { NodeID: "", NodeAddr: "", LocalNodeState: "inactive", ControlAvailable: false, Error: "", RemoteManagers: null },
      // Containers run under conmon and keep running while the agent restarts.
      LiveRestoreEnabled: true,
      Isolation: "",
      InitBinary: "tini",
      ContainerdCommit: { ID: "" },
      RuncCommit: { ID: "" },
      InitCommit: { ID: "" },
      SecurityOptions: ["name=seccomp,profile=builtin"],
      Warnings: [],
    });
  });

  r.get("/events", async (ctx) => {
    const filters = filtersParam(ctx.query, EVENT_FILTERS);
    const since = timeParam(ctx.query, "since");
    const until = timeParam(ctx.query, "until");
    const out = ctx.stream(200, "application/json");
    const inWindow = (e: AgentEvent) =>
      (since === undefined || e.timeNano / 1e9 >= since) && (until === undefined || e.timeNano / 1e9 <= until);
    const write = (e: AgentEvent) => {
      if (inWindow(e) && eventMatches(e, filters)) out.write(`${JSON.stringify(wireEvent(e))}\n`);
    };
    // Past events first (only when asked for with since, as dockerd), then live ones. Both
    // calls below are synchronous, so no event falls between the backlog and the subscription.
    const unsubscribe = rt.events.subscribe(write);
    if (since !== undefined) for (const e of rt.events.since(0)) write(e);
    const now = Date.now() / 1000;
    if (until === undefined || until > now) {
      await new Promise<void>((resolve) => {
        const timer = until !== undefined ? setTimeout(resolve, (until - now) * 1000) : undefined;
        ctx.signal.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    unsubscribe();
    out.end();
  });

  r.get("/system/df", async (ctx) => {
    const want = diskUsageTypes(ctx.query.getAll("type"), ctx.version);
    const containers = rt.containers.list({ all: true });
    const body: Record<string, unknown> = {};
    if (want.has("image")) {
      const images = await rt.images.list();
      const perImage = new Map<string, number>();
      for (const c of containers) perImage.set(String(c.ImageID), (perImage.get(String(c.ImageID)) ?? 0) + 1);
      // Each layer once, however many images share it; a layer in more than one image is shared
      // space, which the CLI needs to tell what removing an image would reclaim.
      const layerSize = new Map<string, number>();
      const layerUsers = new Map<string, number>();
      const layersOf = new Map<string, string[]>();
      for (const img of images) {
        const chains = [...new Set(rt.images.resolve(img.Id).layers.map((l) => l.chainId))];
        layersOf.set(img.Id, chains);
        for (const l of chains) {
          layerUsers.set(l, (layerUsers.get(l) ?? 0) + 1);
          if (!layerSize.has(l)) layerSize.set(l, await rt.images.layerSize(l).catch(() => 0));
        }
      }
      const shared = (id: string) =>
        (layersOf.get(id) ?? []).filter((l) => (layerUsers.get(l) ?? 0) > 1).reduce((a, l) => a + (layerSize.get(l) ?? 0), 0);
      body.LayersSize = [...layerSize.values()].reduce((a, b) => a + b, 0);
      body.Images = images.map((i) =>
        imageSummaryForVersion({ ...i, SharedSize: shared(i.Id), Containers: perImage.get(i.Id) ?? 0 }, ctx.version),
      );
    }
    if (want.has("container")) {
      body.Containers = await Promise.all(
        containers.map(async (c) => ({ ...c, ...(await containerSizes(rt, String(c.Id), String(c.ImageID))) })),
      );
    }
    if (want.has("volume")) {
      body.Volumes = await Promise.all(
        rt.volumes.list().map(async (v) => ({
          ...v,
          UsageData: { Size: await directorySize(v.Mountpoint), RefCount: rt.containers.volumeUsers(v.Name).length },
        })),
      );
    }
    // Berth does not build images: the build cache is always empty.
    if (want.has("build-cache")) body.BuildCache = [];
    // Until 1.42 the response also carried the builder's size (deprecated since 1.40, always 0 here).
    if (!atLeast(ctx.version, "1.42")) body.BuilderSize = 0;
    ctx.json(200, body);
  });

  const AuthSchema = z.object({
    username: z.string().max(1024).default(""),
    password: z.string().max(65_536).default(""),
    serveraddress: z.string().max(1024).default(""),
    email: z.string().max(1024).optional(),
    auth: z.string().max(65_536).optional(),
    identitytoken: z.string().max(65_536).optional(),
    registrytoken: z.string().max(65_536).optional(),
  });
  r.post("/auth", async (ctx) => {
    const a = await ctx.body(AuthSchema);
    const domain = registryDomain(a.serveraddress);
    const client = rt.registryClient((d) => (d === domain ? { credentials: { username: a.username, password: a.password } } : {}));
    await client.login(domain);
    ctx.json(200, { Status: "Login Succeeded", IdentityToken: "" });
  });
}

/** `docker login`'s server address: a bare host, a URL, or Docker Hub's index address. */
export function registryDomain(serverAddress: string): string {
  const s = serverAddress.trim();
  if (!s || /(^|\/\/)(index\.)?docker\.io(\/|$)/.test(s) || s.startsWith("https://index.docker.io")) return "docker.io";
  return s.replace(/^https?:\/\//, "").replace(/\/.*$/, "");
}
