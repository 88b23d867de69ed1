// `npm run bench`: each figure as medians over repeated rounds, with the peers where there are
// any, measured in the same run. Results also go to bench/results/<date>.json.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openTemplateDatabase } from "../scripts/database.ts";
import { buildAgentBundle } from "../scripts/build.ts";
import { repoRoot } from "../scripts/paths.ts";
import { controlPlaneScale } from "./control-plane-scale.ts";
import { imagePullBench } from "./image-pull.ts";
import { containerRunBench } from "./container-run.ts";
import { idleContainersBench } from "./idle-containers.ts";
import { networkBench } from "./network.ts";
import { dockerApiBench, type DaemonFigures } from "./docker-api.ts";
import { logRelayBench } from "./log-relay.ts";
import { fleetBench } from "./fleet.ts";
import { servicesBench } from "./services.ts";
import { servicesLabBench } from "./services-lab.ts";
import { stacksBench } from "./stacks.ts";
import { overlayBench } from "./overlay.ts";
import { buildBench, type BuildFigures } from "./build.ts";
import { fmt } from "./stats.ts";

// `npm run bench -- network pull` runs only the sections named; no names runs them all.
const only = process.argv.slice(2);
const wanted = (section: string) => only.length === 0 || only.includes(section);

const TEMPLATE = "berth_bench_template";
const template = await openTemplateDatabase(TEMPLATE);
const results: Record<string, unknown> = {};
try {
  process.env.BERTH_TEST_PG_ADMIN = template.adminUrl;
  process.env.BERTH_TEST_TEMPLATE = TEMPLATE;
  await buildAgentBundle();

  const agents = Number(process.env.BENCH_AGENTS ?? 5000);
  if (wanted("scale")) {
    console.log(`\n== control-plane scale: ${agents} simulated agents over 2 processes on one Postgres, 1 s heartbeats ==`);
    const scale = await controlPlaneScale({ agents, rounds: 5, roundSeconds: 10 });
    results.controlPlaneScale = scale;
    console.log(
      [
        ...scale.cpuCores.map(
          (c, i) => `process ${"AB"[i]} CPU at rest      ${fmt(c * 100)} % of one core   (goal ≤ 50 %);   RSS ${fmt(scale.rssMiB[i]!)} MiB`,
        ),
        `hosts.list p50           ${fmt(scale.listP50Ms)} ms`,
        `hosts.list p99           ${fmt(scale.listP99Ms)} ms   (goal ≤ 100 ms)`,
        `re-link after a SIGKILL  ${fmt(scale.relinkMs / 1000, 2)} s for the ${scale.relinked} agents of the killed process   (goal ≤ 10 s)`,
        `(medians of ${scale.rounds} rounds; ${scale.listSamples} hosts.list calls through either process; the simulated agents ` +
          "run in the bench's own process on this 2-core machine; no peer runs a comparable control plane here)",
      ].join("\n"),
    );
  }
  if (wanted("pull")) {
    console.log(`\n== image pull: ~200 MB, 5 layers, loopback docker-registry, fetched and unpacked ==`);
    const pull = await imagePullBench({ rounds: Number(process.env.BENCH_PULL_ROUNDS ?? 7) });
    results.imagePull = pull;
    const mb = pull.imageBytes / 2 ** 20;
    console.log(
      [
        `image                    ${fmt(mb, 0)} MiB unpacked, ${fmt(pull.compressedBytes / 2 ** 20, 0)} MiB compressed`,
        `berth pull               ${fmt(pull.berthSeconds, 2)} s   (${fmt(mb / pull.berthSeconds, 0)} MiB/s)`,
        `skopeo copy + umoci      ${fmt(pull.skopeoUmociSeconds, 2)} s   (${fmt(mb / pull.skopeoUmociSeconds, 0)} MiB/s)`,
        `ratio                    berth is ${fmt(pull.speedup, 2)}× the peers' throughput   (goal ≥ 1)`,
        `(medians of ${pull.rounds} rounds, order alternating)`,
      ].join("\n"),
    );
  }
  if (wanted("run")) {
    console.log(`\n== run --rm busybox true: Berth vs bare runc vs podman ==`);
    const cr = await containerRunBench({ rounds: Number(process.env.BENCH_RUN_ROUNDS ?? 20) });
    results.containerRun = cr;
    console.log(
      [
        `berth (create+start+wait+rm)   ${fmt(cr.berthMs, 0)} ms`,
        `bare runc run                  ${fmt(cr.runcMs, 0)} ms`,
        cr.podmanMs !== null
          ? `podman run --rm                ${fmt(cr.podmanMs, 0)} ms`
          : `podman run --rm                not measured: ${cr.podmanError}`,
        `ratio to bare runc             ${fmt(cr.berthMs / cr.runcMs, 2)}×   (goal ≤ 2.5×)`,
        cr.podmanMs !== null ? `ratio to podman                ${fmt(cr.berthMs / cr.podmanMs, 2)}×   (goal < 1)` : "",
        `(medians of ${cr.rounds} runs each, after one warm-up run; Berth measured in-process through its container service ` +
          `(the \`api\` section times docker run through each daemon's socket))`,
      ]
        .filter(Boolean)
        .join("\n"),
    );
  }
  const idleCount = Number(process.env.BENCH_IDLE_CONTAINERS ?? 500);
  if (wanted("idle")) {
    console.log(`\n== ${idleCount} idle containers: memory, and stats for all of them ==`);
    const idle = await idleContainersBench({ containers: idleCount, streamSeconds: 10 });
    results.idleContainers = idle;
    console.log(
      [
        `agent RSS                ${fmt(idle.agentRssIdleMiB, 0)} MiB at rest → ` +
          `${fmt(idle.agentRssMiB, 0)} MiB with ${idle.containers} running ` +
          `(${fmt(((idle.agentRssMiB - idle.agentRssIdleMiB) * 1024) / idle.containers, 0)} KiB each)`,
        `memory per container     ${fmt(idle.perContainerKiB, 0)} KiB = conmon ${fmt(idle.conmonPssKiB, 0)} KiB ` +
          `+ its processes ${fmt(idle.containerPssKiB, 0)} KiB + the agent's share (PSS, medians)`,
        `one-shot stats           p50 ${fmt(idle.statsP50Ms, 2)} ms, p99 ${fmt(idle.statsP99Ms, 2)} ms ` +
          `per container (${idle.containers} calls, one after another)`,
        `streaming stats at 1 Hz  agent CPU ${fmt(idle.streamCpuPercent, 1)} % of one core ` +
          `for ${idle.containers} streams (${fmt(idle.streamSamplesPerSecond, 0)} samples/s over ${10} s)`,
        `(started ${idle.containers} containers in ${fmt(idle.createSeconds, 0)} s, 4 at a time; the agent runs bundled as it ships. ` +
          `podman supervises with the same conmon. ` +
          `The \`api\` section compares docker ps and docker stats across Berth, dockerd and podman.)`,
      ].join("\n"),
    );
  }
  if (wanted("api")) {
    const containers = Number(process.env.BENCH_PS_CONTAINERS ?? 500);
    console.log(`\n== the docker CLI against three daemons: Berth, dockerd, podman (Docker-compatible service) ==`);
    const api = await dockerApiBench({ rounds: Number(process.env.BENCH_API_ROUNDS ?? 20), containers });
    results.dockerApi = api;
    const ms = (f: DaemonFigures, k: "runMs" | "psMs" | "statsMs") =>
      f[k] === null ? `not measured${f.error ? `: ${f.error}` : ""}` : `${fmt(f[k]!, 0)} ms`;
    const ratio = (a: number | null, b: number | null) => (a !== null && b !== null ? `${fmt(a / b, 2)}×` : "n/a");
    console.log(
      [
        `docker run --rm busybox true   berth ${ms(api.berth, "runMs")}, dockerd ${ms(api.dockerd, "runMs")}, ` +
          `podman ${ms(api.podman, "runMs")}`,
        `  berth / dockerd              ${ratio(api.berth.runMs, api.dockerd.runMs)}   (goal ≤ 0.35×)`,
        `  berth / podman               ${ratio(api.berth.runMs, api.podman.runMs)}   (goal ≤ 0.7×)`,
        `docker ps, ${containers} running     berth ${ms(api.berth, "psMs")}, dockerd ${ms(api.dockerd, "psMs")}, ` +
          `podman ${ms(api.podman, "psMs")}`,
        `docker stats --no-stream, 100  berth ${ms(api.berth, "statsMs")}, dockerd ${ms(api.dockerd, "statsMs")}, ` +
          `podman ${ms(api.podman, "statsMs")}`,
        `(medians: ${api.rounds} runs each after two warm-ups, order rotating; ps 10 times; stats 5 times. ` +
          `Same docker CLI (v28) for all; --network none everywhere; Berth's agent bundled as it ships.)`,
      ].join("\n"),
    );
  }
  if (wanted("build")) {
    const files = Number(process.env.BENCH_BUILD_FILES ?? 3000);
    console.log(`\n== docker build: Berth's builder vs dockerd's classic builder, same CLI, ${files} files in the context ==`);
    const build = await buildBench({ rounds: Number(process.env.BENCH_BUILD_ROUNDS ?? 5), files });
    results.build = build;
    const ms = (f: BuildFigures, k: "coldMs" | "cachedMs" | "oneFileMs") =>
      f[k] === null ? `not measured${f.error ? `: ${f.error}` : ""}` : `${fmt(f[k]!, 0)} ms`;
    const ratio = (k: "coldMs" | "cachedMs" | "oneFileMs") =>
      build.berth[k] !== null && build.dockerd[k] !== null ? `${fmt(build.berth[k]! / build.dockerd[k]!, 2)}×` : "n/a";
    console.log(
      [
        `cold (--no-cache)        berth ${ms(build.berth, "coldMs")}, dockerd ${ms(build.dockerd, "coldMs")}   ${ratio("coldMs")}   (goal ≤ 0.7×)`,
        `unchanged rebuild        berth ${ms(build.berth, "cachedMs")}, dockerd ${ms(build.dockerd, "cachedMs")}   ${ratio("cachedMs")}   (goal ≤ 0.5×)`,
        `one copied file changed  berth ${ms(build.berth, "oneFileMs")}, dockerd ${ms(build.dockerd, "oneFileMs")}   ${ratio("oneFileMs")}`,
        `(medians of ${build.rounds} rounds, order alternating; docker CLI with DOCKER_BUILDKIT=0 for both, so both take the classic /build API; ` +
          `the CLI's own time to pack and send the context is in both figures)`,
      ].join("\n"),
    );
  }
  if (wanted("network")) {
    console.log(`\n== networking: HTTP through a published port vs the container's IP; embedded DNS ==`);
    const net = await networkBench({ rounds: Number(process.env.BENCH_NET_ROUNDS ?? 5), seconds: 5, dnsQueries: 2000 });
    results.network = net;
    console.log(
      [
        `straight to container IP ${fmt(net.direct.requestsPerSecond, 0)} req/s, p99 ${fmt(net.direct.p99Ms, 2)} ms`,
        `published port (DNAT)    ${fmt(net.published.requestsPerSecond, 0)} req/s, p99 ${fmt(net.published.p99Ms, 2)} ms`,
        `overhead                 ${fmt(net.overhead * 100, 1)} % fewer req/s, ` +
          `p99 ${fmt(net.published.p99Ms / net.direct.p99Ms, 2)}×   (goal ≤ 10 %)`,
        `DNS, container name      p50 ${fmt(net.dns.nameP50Ms, 3)} ms, p99 ${fmt(net.dns.nameP99Ms, 3)} ms`,
        `DNS, forwarded upstream  p50 ${fmt(net.dns.forwardedP50Ms, 3)} ms, p99 ${fmt(net.dns.forwardedP99Ms, 3)} ms ` +
          `(a stand-in resolver in the lab)`,
        `(wrk -t1 -c16, ${net.rounds} rounds of 5 s each, order alternating, medians; a keep-alive node server in the container; ` +
          `wrk and the agent in a lab namespace. DNS: ${net.dns.queries} sequential queries from inside a container. ` +
          `dockerd is not measured here: with --bridge none it has no published ports to compare.)`,
      ].join("\n"),
    );
  }
  if (wanted("logs")) {
    const lines = Number(process.env.BENCH_LOG_LINES ?? 500_000);
    console.log(`\n== log relay: agent → control plane → WebSocket client, beside docker logs -f through dockerd ==`);
    const lr = await logRelayBench({ lines, rounds: Number(process.env.BENCH_LOG_ROUNDS ?? 5), latencySeconds: 10 });
    results.logRelay = lr;
    const rate = (x: number | null) =>
      x === null ? `not measured${lr.dockerdError ? `: ${lr.dockerdError}` : ""}` : `${fmt(x, 0)} lines/s`;
    const vsDockerd =
      lr.dockerdLinesPerSecond !== null ? `  berth / dockerd          ${fmt(lr.berthLinesPerSecond / lr.dockerdLinesPerSecond, 2)}×` : "";
    const e2e = lr.endToEnd;
    const pp = (p: { p50: number; p99: number }) => `${fmt(p.p50, 1)} / ${fmt(p.p99, 1)} ms`;
    const dockerdLatency =
      lr.dockerdLatencyP50Ms === null ? "n/a" : `${fmt(lr.dockerdLatencyP50Ms, 1)} / ${fmt(lr.dockerdLatencyP99Ms!, 1)} ms`;
    console.log(
      [
        `follow ${lines} lines     berth ${rate(lr.berthLinesPerSecond)}, docker logs -f ${rate(lr.dockerdLinesPerSecond)}   ` +
          `(goal ≥ 100000 lines/s; 0 lost, every line checked)`,
        vsDockerd,
        `live latency p50 / p99, end to end   berth ${pp(e2e.berth)}, dockerd ${e2e.dockerd ? pp(e2e.dockerd) : "n/a"}` +
          `${e2e.dockerd ? `   p99 ratio ${fmt(e2e.berth.p99 / e2e.dockerd.p99, 2)}×` : ""}   (goal: at or below dockerd's)`,
        `  docker logs -f, same CLI   Berth's agent socket ${pp(e2e.agent)}, dockerd ${e2e.dockerd ? pp(e2e.dockerd) : "n/a"}` +
          `   (the agent alone, no control plane: the same path as dockerd's)`,
        `  from the log record's own timestamp   berth ${fmt(lr.berthLatencyP50Ms, 1)} / ${fmt(lr.berthLatencyP99Ms, 1)} ms, ` +
          `agent socket ${fmt(lr.agentDockerLatencyP50Ms, 1)} / ${fmt(lr.agentDockerLatencyP99Ms, 1)} ms, dockerd ${dockerdLatency}` +
          `   (not like for like: conmon stamps at the container's pipe, dockerd after the shim's hop)`,
        `(throughput: medians of ${lr.rounds} follows of a log already written (seq 1 ${lines}), window 16 frames; ` +
          `latency: ${e2e.lines} + ${lr.latencyLines} lines per path at 5,000 lines/s (bursts of 100 every 20 ms), two 10 s rounds per path and measure, ` +
          `taken in turn. End to end: the bench writes lines stamped with its clock into a FIFO the container copies to stdout, ` +
          `so both daemons are timed from the same write. The control plane runs in its own process, the agent bundled as it ships.)`,
      ]
        .filter(Boolean)
        .join("\n"),
    );
  }
  if (wanted("services")) {
    const hosts = Number(process.env.BENCH_SERVICE_HOSTS ?? 1000);
    const replicas = Number(process.env.BENCH_SERVICE_REPLICAS ?? 3000);
    console.log(`\n== services: ${replicas} replicas placed on ${hosts} simulated hosts; heal after 10 of 100 hosts die ==`);
    const s = await servicesBench({ hosts, replicas, healHosts: 100, healCut: 10 });
    results.services = s;
    console.log(
      [
        `placement, ${s.placementReplicas} tasks on ${s.placementHosts} hosts, the control plane in service (a second service beside the first)   ` +
          `per task p50 ${fmt(s.nextPlacementP50Ms, 0)} ms, p99 ${fmt(s.nextPlacementP99Ms, 0)} ms   ` +
          `(classic Swarm's published p50: 230 ms at 1,000 nodes; goal p50 ≤ 50 ms)`,
        `  the first service after the process started (cold: JIT and Prisma's query compiler)   all assigned ${fmt(s.allAssignedMs, 0)} ms; ` +
          `per task p50 ${fmt(s.placementP50Ms, 0)} ms, p99 ${fmt(s.placementP99Ms, 0)} ms`,
        `  every task committed (seen by a reader; the insert of ${s.placementReplicas} rows included)   ${fmt(s.allVisibleMs, 0)} ms, the next service ${fmt(s.nextAllVisibleMs, 0)} ms`,
        `  the create call itself   ${fmt(s.createCallMs, 0)} ms;   all running (simulated agents)   ${fmt(s.allRunningMs, 0)} ms`,
        `heal, ${s.healTasks} tasks of ${s.healCut} dead hosts   reassigned ${fmt(s.healMs, 0)} ms after they were marked offline   (goal ≤ 2,000 ms)`,
        `(one run each; a task's placement latency runs from the service's row to the task's row with its host, on Postgres's clock.)`,
      ].join("\n"),
    );
    console.log(`\n== services on the lab's 3 hosts (network namespaces, real agents and runc, busybox from a registry on the lab) ==`);
    const lab = await servicesLabBench({ warmRounds: 3 });
    results.servicesLab = lab;
    console.log(
      [
        `create 6 replicas → all running, image already on the hosts   ${fmt(lab.warmCreateMs, 0)} ms   (Swarm here: 2,300-3,400 ms; goal ≤ 2,000 ms; median of ${lab.warmRounds})`,
        `  the same on a fresh fleet (every host pulls the image first)   ${fmt(lab.coldCreateMs, 0)} ms   (Swarm's figure above does not say whether its hosts had the image)`,
        `host lost (agent SIGKILLed, link cut) → its task running elsewhere   ${fmt(lab.failoverMs, 0)} ms   (Swarm here: 16,000-22,000 ms; goal ≤ 10,000 ms)`,
      ].join("\n"),
    );
  }
  if (wanted("stacks")) {
    console.log(`\n== stacks: an unchanged fleet stack of 20 services (2 replicas each) deployed again, on 10 simulated hosts ==`);
    const st = await stacksBench({ hosts: 10, services: 20, replicas: 2, rounds: 5 });
    results.stacks = st;
    console.log(
      [
        `redeploy of the unchanged stack   p50 ${fmt(st.redeployP50Ms, 0)} ms, slowest ${fmt(st.redeployMaxMs, 0)} ms   ` +
          `tasks restarted ${st.tasksMade} made, ${st.tasksEnded} ended; services given a new version ${st.servicesChanged}   ` +
          `(goal: 0 restarts; moby#31357: docker stack deploy of an unchanged file can restart services)`,
        `  the first deploy (the API call: ${st.services} services and their network made)   ${fmt(st.firstDeployMs, 0)} ms;   ` +
          `all ${st.services * st.replicas} tasks running (simulated agents)   ${fmt(st.allRunningMs, 0)} ms`,
        `(${st.rounds} redeploys through the API, the control plane in its own process.)`,
      ].join("\n"),
    );
  }
  if (wanted("overlay")) {
    console.log(
      `\n== overlay networks on the lab's 3 hosts (VXLAN, WireGuard, nftables VIPs; iperf3 and wrk inside the containers' namespaces) ==`,
    );
    const o = await overlayBench({ rounds: 3, seconds: 5, deaths: 10 });
    results.overlay = o;
    const gbps = (x: number) => `${fmt(x, 2)} Gbit/s`;
    console.log(
      [
        `TCP between containers on two hosts   overlay ${gbps(o.overlayGbps)}   underlay (the hosts themselves) ${gbps(o.underlayGbps)}   ratio ${fmt(o.throughputRatio, 2)}x   (goal ≥ 0.8x; median of ${o.rounds})`,
        `  encrypted overlay (VXLAN over ${o.wireguard === "kernel" ? "kernel WireGuard" : "wireguard-go"})   ${gbps(o.encryptedGbps)}   ratio to plain ${fmt(o.encryptedGbps / o.overlayGbps, 2)}x   (the issue measured wireguard-go alone at about 0.38 Gbit/s here)`,
        `HTTP to a one-task service on another host (busybox httpd, a connection per request)   through its VIP ${fmt(o.vip.requestsPerSecond, 0)} req/s, p99 ${fmt(o.vip.p99Ms, 2)} ms   straight to the task ${fmt(o.direct.requestsPerSecond, 0)} req/s, p99 ${fmt(o.direct.p99Ms, 2)} ms   overhead ${fmt(o.vipOverhead * 100, 1)} %   (goal ≤ 10 %)`,
        `a task's death → out of every host's backend set   from the kill request p50 ${fmt(o.removalP50Ms, 0)} ms, p99 ${fmt(o.removalP99Ms, 0)} ms;   from the agent's die event p50 ${fmt(o.fromDieP50Ms, 0)} ms, p99 ${fmt(o.fromDieP99Ms, 0)} ms   (${o.deaths} deaths, every host polled each ~5 ms; goal ≤ 1,000 ms from the agent seeing it)`,
      ].join("\n"),
    );
  }
  if (wanted("fleet")) {
    console.log(
      `\n== fleet control plane: the container table with 10,000 containers on 300 hosts; docker ps and docker service ps (3,000 tasks) on the fleet Docker endpoint; stats ingest for 1,000 containers at 1 Hz ==`,
    );
    const f = await fleetBench({
      hosts: 300,
      containers: 10_000,
      listCalls: 350,
      dockerPsCalls: 30,
      serviceTasks: 3000,
      servicePsCalls: 30,
      statsContainers: 1000,
      statsAgents: 10,
      statsSeconds: 30,
    });
    results.fleet = f;
    console.log(
      [
        `fleet.list, ${f.containers} containers   p50 ${fmt(f.listP50Ms, 1)} ms, p99 ${fmt(f.listP99Ms, 1)} ms   ` +
          `(${f.listCalls} calls: pages to 9,900, each sort, text and state filters; one at a time over HTTP)`,
        `docker ps -a through the fleet Docker endpoint, ${f.containers} containers on ${f.hosts} hosts   p50 ${fmt(f.dockerPsP50Ms, 0)} ms, p99 ${fmt(f.dockerPsP99Ms, 0)} ms   (${f.dockerPsCalls} calls, the whole list each; goal p99 < 1,000 ms)`,
        `docker service ps of a ${f.serviceTasks}-task service through the fleet Docker endpoint   p50 ${fmt(f.servicePsP50Ms, 0)} ms, p99 ${fmt(f.servicePsP99Ms, 0)} ms   (${f.servicePsCalls} calls, GET /tasks filtered by the service, every task each)`,
        `stats ingest, ${f.statsContainers} at 1 Hz  control plane CPU ${fmt(f.statsCpuPercent, 1)} % of one core ` +
          `over ${f.statsSeconds} s; ${f.statsRows} rows of 10 s history written`,
        `(inventory seeded in Postgres as agents report it; ${f.statsAgents} simulated agents send the stats frames a real agent sends. ` +
          `No peer runs a comparable fleet control plane on this machine, so these have no side-by-side figure.)`,
      ].join("\n"),
    );
  }
} finally {
  await template.close();
}
const dir = join(repoRoot, "bench/results");
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, `${new Date().toISOString().replace(/[:.]/g, "-")}.json`), JSON.stringify(results, null, 2));
