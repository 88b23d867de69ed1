import { test } from "node:test";
import assert from "node:assert/strict";
import { parse } from "yaml";
import { composeFromContainers, type InspectedContainer } from "../src/stacks/adopt-host.ts";
import { loadCompose } from "../src/stacks/compose/index.ts";
import { planHost } from "../src/stacks/host-plan.ts";

const labels = (service: string, n: number, extra: Record<string, string> = {}) => ({
  "com.docker.compose.project": "shop",
  "com.docker.compose.service": service,
  "com.docker.compose.container-number": String(n),
  "com.docker.compose.oneoff": "False",
  "com.docker.compose.config-hash": "x".repeat(64),
  ...extra,
});

const web = (n: number): InspectedContainer => ({
  Name: `/shop_web_${n}`,
  Config: {
    Image: "nginx",
    Cmd: ["sh", "-c", "echo $HOME > /www/index.html && exec nginx"],
    Entrypoint: ["/docker-entrypoint.sh"],
    Env: ["PATH=/usr/bin", "GREETING=hi $there", "MODE=prod"],
    Labels: labels("web", n, { "team.owner": "ops", maintainer: "nginx" }),
    Healthcheck: { Test: ["CMD", "true"], Interval: 1_000_000_000, Retries: 3, Timeout: 500_000_000 },
    StopTimeout: 2,
  },
  HostConfig: {
    PortBindings: { "80/tcp": [{ HostIp: "", HostPort: "8080" }], "53/udp": [{ HostIp: "127.0.0.1", HostPort: "5353" }] },
    RestartPolicy: { Name: "unless-stopped" },
  },
  Mounts: [
    { Type: "volume", Name: "shop_www", Destination: "/www", RW: true },
    { Type: "volume", Name: "a".repeat(64), Destination: "/cache", RW: true },
    { Type: "volume", Name: "shared-data", Destination: "/shared", RW: false },
    { Type: "bind", Source: "/srv/conf", Destination: "/etc/conf", RW: false },
  ],
  NetworkSettings: {
    Networks: { shop_default: { Aliases: ["web", "abcdef012345", `shop_web_${n}`] }, shop_back: { Aliases: ["web", "api"] } },
  },
});

const images = new Map([
  [
    "nginx",
    { Cmd: ["nginx", "-g", "daemon off;"], Entrypoint: ["/docker-entrypoint.sh"], Env: ["PATH=/usr/bin"], Labels: { maintainer: "nginx" } },
  ],
]);

test("a project's containers become a compose file that reads and plans again", () => {
  const other: InspectedContainer = {
    ...web(1),
    Name: "/other_web_1",
    Config: { ...web(1).Config, Labels: { ...labels("web", 1), "com.docker.compose.project": "other" } },
  };
  const oneoff: InspectedContainer = {
    ...web(9),
    Config: { ...web(9).Config, Labels: labels("web", 9, { "com.docker.compose.oneoff": "True" }) },
  };
  const text = composeFromContainers("shop", [web(2), web(1), other, oneoff], images);
  const file = parse(text) as {
    services: Record<string, Record<string, unknown>>;
    volumes: Record<string, unknown>;
    networks: Record<string, unknown>;
  };
  const svc = file.services.web!;
  assert.equal(svc.image, "nginx");
  assert.equal(svc.entrypoint, undefined, "the image's own entrypoint is not written");
  assert.deepEqual(svc.command, ["sh", "-c", "echo $$HOME > /www/index.html && exec nginx"], "$ is written as $$");
  assert.deepEqual(svc.environment, { GREETING: "hi $$there", MODE: "prod" }, "the image's env is left out");
  assert.deepEqual(svc.labels, { "team.owner": "ops" }, "compose's and the image's labels are left out");
  assert.deepEqual(svc.ports, ["8080:80", "127.0.0.1:5353:53/udp"]);
  assert.deepEqual(svc.volumes, ["www:/www", "/cache", "shared-data:/shared:ro", "/srv/conf:/etc/conf:ro"]);
  assert.deepEqual(file.volumes, { www: {}, "shared-data": { external: true } });
  assert.deepEqual(svc.networks, { default: null, back: { aliases: ["api"] } });
  assert.deepEqual(file.networks, { back: {} });
  assert.equal(svc.restart, "unless-stopped");
  assert.deepEqual(svc.healthcheck, { test: ["CMD", "true"], interval: "1s", timeout: "500ms", retries: 3 });
  assert.equal(svc.stop_grace_period, "2s");
  assert.deepEqual(svc.deploy, { replicas: 2 }, "two containers of the project, not the other project's or a one-off");

  // Read back by the same reader and planner a deploy uses: the $ stays literal.
  const project = loadCompose([{ name: "compose.yaml", text }]);
  const plan = planHost("shop", project.model);
  const body = plan.services[0]!.body as { Cmd: string[]; Env: string[] };
  assert.deepEqual(body.Cmd, ["sh", "-c", "echo $HOME > /www/index.html && exec nginx"]);
  assert.ok(body.Env.includes("GREETING=hi $there"));
});
