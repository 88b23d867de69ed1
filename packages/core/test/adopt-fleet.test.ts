import { test } from "node:test";
import assert from "node:assert/strict";
import { composeFromServices } from "../src/stacks/adopt-fleet.ts";
import { loadCompose } from "../src/stacks/compose/index.ts";
import { planFleet } from "../src/stacks/fleet-plan.ts";
import { ServiceSpecSchema } from "../src/services/spec.ts";

const SOURCE = `services:
  web:
    image: nginx:1.27
    entrypoint: ["/bin/sh", "-c"]
    command: ["echo $$HOME; exec nginx"]
    environment: {GREETING: "hi $$there", MODE: prod}
    labels: {team.owner: ops}
    user: "101"
    working_dir: /srv
    stop_grace_period: 3s
    volumes: ["www:/www:ro", "/srv/conf:/etc/conf", "/cache"]
    tmpfs: [/run]
    healthcheck: {test: ["CMD", "true"], interval: 2s, timeout: 500ms, retries: 3}
    networks:
      front: {aliases: [site]}
      default: {}
    ports: ["8080:80", {target: 53, published: 5353, protocol: udp, mode: host}]
    secrets: [token, {source: cert, target: tls.pem, mode: 0o400}]
    configs: [site]
    deploy:
      replicas: 3
      labels: {tier: edge}
      resources: {limits: {cpus: "0.5", memory: 64M}, reservations: {memory: 32M}}
      restart_policy: {condition: on-failure, delay: 2s, max_attempts: 4}
      placement: {constraints: [node.labels.zone==a], max_replicas_per_node: 2}
      update_config: {parallelism: 2, order: start-first}
  worker:
    image: busybox
    platform: linux/arm64
    deploy: {mode: global, endpoint_mode: dnsrr}
networks:
  front: {driver: overlay, attachable: true}
volumes:
  www: {}
secrets:
  token: {external: true, name: shop_token}
  cert: {external: true, name: shop_cert}
configs:
  site: {external: true, name: shop_site}
`;

const specsOf = (text: string) =>
  planFleet("shop", loadCompose([{ name: "compose.yaml", text }]).model).services.map((s) => ServiceSpecSchema.parse(s));

test("a stack's services become a compose file that plans to the very same specs", () => {
  const deployed = specsOf(SOURCE);
  const written = composeFromServices("shop", deployed, [
    { name: "shop_front", internal: false, attachable: true, encrypted: false },
    { name: "shop_default", internal: false, attachable: false, encrypted: false },
  ]);
  assert.match(written, /\$\$HOME/, "$ is written as $$");
  const again = specsOf(written);
  // Equal specs: a deploy of the adopted stack finds every service unchanged and restarts nothing.
  assert.deepEqual(again, deployed);
});
