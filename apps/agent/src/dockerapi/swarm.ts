// The Swarm and plugin parts of the Engine API on a single host. A Berth host is never a swarm
// node (services run through the control plane's Docker endpoint), so these answer as a dockerd
// that has not joined a swarm does, and as one with no plugins installed: never "page not found".
import type { Router } from "./router.ts";
import { DockerApiError } from "./errors.ts";
import { filtersParam } from "@berth/docker-api";

/** dockerd's answer to a cluster call on a node outside any swarm (moby daemon/cluster, errNoManager). */
const NOT_MANAGER =
  'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
/** dockerd's answer to a cluster volume update outside a swarm (its volume router). */
const NO_CLUSTER_VOLUMES = "volume update only valid for cluster volumes, but swarm is unavailable";
/** dockerd's answer to `swarm leave` outside a swarm (errNoSwarm). */
const NO_SWARM = "This node is not part of a swarm";
const BERTH_SWARM =
  "a Berth host does not join a swarm itself: services, nodes and stacks are managed through the Berth control plane's Docker endpoint";

const unavailable = (message: string) => () => {
  throw new DockerApiError(503, message);
};

/** The cluster paths of the Engine API (swagger: Swarm, Node, Service, Task, Secret, Config). */
const CLUSTER_ROUTES: Array<[method: "GET" | "POST" | "DELETE", path: string]> = [
  ["GET", "/swarm"],
  ["POST", "/swarm/update"],
  ["GET", "/swarm/unlockkey"],
  ["POST", "/swarm/unlock"],
  ["GET", "/nodes"],
  ["GET", "/nodes/{id}"],
  ["DELETE", "/nodes/{id}"],
  ["POST", "/nodes/{id}/update"],
  ["GET", "/services"],
  ["POST", "/services/create"],
  ["GET", "/services/{id}"],
  ["DELETE", "/services/{id}"],
  ["POST", "/services/{id}/update"],
  ["GET", "/services/{id}/logs"],
  ["GET", "/tasks"],
  ["GET", "/tasks/{id}"],
  ["GET", "/tasks/{id}/logs"],
  ["GET", "/secrets"],
  ["POST", "/secrets/create"],
  ["GET", "/secrets/{id}"],
  ["DELETE", "/secrets/{id}"],
  ["POST", "/secrets/{id}/update"],
  ["GET", "/configs"],
  ["POST", "/configs/create"],
  ["GET", "/configs/{id}"],
  ["DELETE", "/configs/{id}"],
  ["POST", "/configs/{id}/update"],
];

/** Plugin paths that name an installed plugin: none is installed, so each is dockerd's "not found". */
const PLUGIN_BY_NAME: Array<[method: "GET" | "POST" | "DELETE", path: string]> = [
  ["GET", "/plugins/{name*}/json"],
  ["DELETE", "/plugins/{name*}"],
  ["POST", "/plugins/{name*}/enable"],
  ["POST", "/plugins/{name*}/disable"],
  ["POST", "/plugins/{name*}/upgrade"],
  ["POST", "/plugins/{name*}/push"],
  ["POST", "/plugins/{name*}/set"],
];

export function swarmRoutes(r: Router): void {
  for (const [method, path] of CLUSTER_ROUTES) r.add(method, path, unavailable(NOT_MANAGER));
  r.post("/swarm/leave", unavailable(NO_SWARM));
  r.post("/swarm/init", unavailable(BERTH_SWARM));
  r.post("/swarm/join", unavailable(BERTH_SWARM));
  // Only cluster volumes can be updated; local ones are created, inspected and removed in volumes.ts.
  r.put("/volumes/{name}", unavailable(NO_CLUSTER_VOLUMES));

  r.get("/plugins", (ctx) => {
    filtersParam(ctx.query, ["capability", "enabled"]);
    ctx.json(200, []);
  });
  for (const [method, path] of PLUGIN_BY_NAME) {
    r.add(method, path, (ctx) => {
      throw new DockerApiError(404, `plugin ${JSON.stringify(ctx.params.name!)} not found`);
    });
  }
  // Installing one needs the managed-plugin system, which Berth does not have.
  const noPlugins = () => {
    throw new DockerApiError(501, "managed plugins are not supported on a Berth host");
  };
  r.get("/plugins/privileges", noPlugins);
  r.post("/plugins/pull", noPlugins);
  r.post("/plugins/create", noPlugins);
}
