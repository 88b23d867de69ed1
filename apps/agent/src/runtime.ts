// The agent's runtime stack on one host, assembled from its layers (ARCHITECTURE.md, "Agent layers").
import { join } from "node:path";
import { mkdirSync } from "node:fs";
import { ContentStore } from "./content/index.ts";
import { RegistryClient, type RegistrySettings } from "./registry/index.ts";
import { ImageStore } from "./images/index.ts";
import { ImageService } from "./images/index.ts";
import type { LayerUnpacker } from "./images/index.ts";
import { SnapshotUnpacker } from "./images/index.ts";
import { sharedExtractor } from "./images/index.ts";
import { Snapshotter } from "./snapshots/index.ts";
import { ContainerService } from "./containers/index.ts";
import { EventLog, EventOutbox } from "./containers/index.ts";
import { ExecService, type ExecRetention } from "./containers/index.ts";
import { HealthMonitor } from "./containers/index.ts";
import { commitContainer, exportContainer, type CommitOptions } from "./containers/index.ts";
import { VolumeService } from "./volumes/index.ts";
import { NetworkService } from "./network/index.ts";
import type { Readable } from "node:stream";
import { Builder, DEFAULT_CONTEXT_LIMIT } from "./build/index.ts";
import { existsSync } from "node:fs";

export interface AgentRuntime {
  snapshots: Snapshotter;
  images: ImageService;
  containers: ContainerService;
  volumes: VolumeService;
  /** Present when bridge networking is on. */
  networks: NetworkService | undefined;
  execs: ExecService;
  health: HealthMonitor;
  events: EventLog;
  /** The events the control plane has not acknowledged yet (on disk). */
  outbox: EventOutbox;
  /** The Dockerfile builder (`docker build`), and the largest context it takes. */
  builder: Builder;
  buildContextLimit: number;
  /** `docker commit` and `docker export`. */
  commit(container: string, opts?: CommitOptions): Promise<{ Id: string }>;
  exportContainer(container: string): Promise<Readable>;
  /** The image service with another registry client (per-command registry access). */
  imagesWith(registry: RegistryClient): ImageService;
  /** Docker Hub mirrors every registry client of this agent uses. */
  mirrors: string[];
  /** A registry client with this agent's mirrors and plain-HTTP registries, and per-call settings on top. */
  registryClient(settingsFor?: (domain: string) => RegistrySettings): RegistryClient;
}

export interface RuntimeOptions {
  mirrors?: string[];
  /** Registries (host:port) spoken to over plain HTTP, as dockerd's --insecure-registry. */
  insecureRegistries?: string[];
  /** OCI runtime binary (default runc). */
  runtime?: string;
  /** cgroupfs parent for this agent's containers (default /berth). */
  cgroupParent?: string;
  /**
   * Bridge networking (the default `bridge` network, user networks, nftables rules in this
   * agent's network namespace). Off, containers get `none` or `host`. Call `networks.init()` first.
   */
  networking?: { defaultSubnet?: string; dnsUpstreams?: string[] };
  /** How long exec records are kept (tests shorten it). */
  execRetention?: ExecRetention;
  /** Largest build context accepted, in bytes as sent. */
  buildContextLimit?: number;
}

/** Assembles the layers; call `containers.init()` then `health.start()` before serving. */
export function createRuntime(stateDir: string, opts: RuntimeOptions = {}): AgentRuntime {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const snapshots = new Snapshotter(join(stateDir, "snapshots"));
  const unpacker: LayerUnpacker = new SnapshotUnpacker(snapshots);
  const content = new ContentStore(join(stateDir, "content"));
  const images = new ImageStore(stateDir);
  const mirrors = opts.mirrors ?? [];
  const insecure = new Set(opts.insecureRegistries ?? []);
  const registryClient = (settingsFor?: (domain: string) => RegistrySettings) =>
    new RegistryClient({ mirrors, settingsFor: (d) => ({ ...(insecure.has(d) ? { insecure: true } : {}), ...(settingsFor?.(d) ?? {}) }) });
  const registry = registryClient();
  // Layers unpack on worker threads: pulls use every core and the link stays responsive.
  const extractor = sharedExtractor();
  // Events are kept on disk until the control plane has them; their numbering survives restarts.
  const outbox = EventOutbox.open(join(stateDir, "events"));
  const events = new EventLog(10_000, outbox.lastSeq);
  outbox.attach(events);
  let containers: ContainerService | undefined;
  const inUse = (imageId: string) => containers?.usesImage(imageId) ?? false;
  // Image, volume and network events join the containers' in the one ordered stream.
  const imageEvents = (action: string, id: string, attributes: Record<string, string>) => void events.emit("image", action, id, attributes);
  // The image service alone reaches the content store, the unpacker and the registry client.
  const imageService = new ImageService({ content, unpacker, extractor, images, registry, inUse, onEvent: imageEvents });
  const tini = "/usr/bin/tini-static";
  const volumes = new VolumeService({
    stateDir,
    usersOf: (name) => containers?.volumeUsers(name) ?? [],
    onEvent: (a, id, attrs) => void events.emit("volume", a, id, attrs),
  });
  const networks = opts.networking
    ? new NetworkService({
        stateDir,
        ...(opts.networking.defaultSubnet ? { defaultSubnet: opts.networking.defaultSubnet } : {}),
        ...(opts.networking.dnsUpstreams ? { dnsUpstreams: opts.networking.dnsUpstreams } : {}),
        endpointsOf: (id) => containers?.endpointsOn(id) ?? [],
        resolutionOf: (id) => containers?.resolutionOf(id) ?? { dns: [], links: [] },
        portsOf: () => containers?.publishedPorts() ?? [],
        onEvent: (a, id, attrs) => void events.emit("network", a, id, attrs),
      })
    : undefined;
  containers = new ContainerService({
    volumes,
    ...(networks ? { networks } : {}),
    stateDir,
    images: imageService,
    snapshots,
    events,
    ...(opts.runtime ? { runtime: opts.runtime } : {}),
    ...(opts.cgroupParent ? { cgroupParent: opts.cgroupParent } : {}),
    ...(existsSync(tini) ? { initPath: tini } : {}),
  });
  const execs = new ExecService(containers, undefined, opts.execRetention);
  const builder = new Builder({
    stateDir,
    images: imageService,
    containers,
    snapshots,
    pull: async (reference, out) => {
      out.stream(`Pulling ${reference}\n`);
      return imageService.pull(reference);
    },
  });
  return {
    builder,
    buildContextLimit: opts.buildContextLimit ?? DEFAULT_CONTEXT_LIMIT,
    snapshots,
    mirrors,
    registryClient,
    events,
    outbox,
    containers,
    volumes,
    networks,
    execs,
    health: new HealthMonitor(containers, execs, events),
    commit: (c, o) => commitContainer({ containers: containers!, images: imageService, snapshots }, c, o),
    exportContainer: (c) => exportContainer({ containers: containers!, snapshots }, c),
    images: imageService,
    imagesWith: (r) => imageService.withRegistry(r),
  };
}
