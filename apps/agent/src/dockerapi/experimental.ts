// dockerd's experimental routes (checkpoints, for `docker checkpoint`). They are outside the
// swagger, and Berth, like dockerd by default, does not run in experimental mode
// (`Docker-Experimental: false`), so each answers as dockerd's disabled experimental routes do.
import { DockerApiError } from "./errors.ts";
import type { Router } from "./router.ts";

const EXPERIMENTAL_OFF =
  "This experimental feature is disabled by default. Start the Docker daemon in experimental mode in order to enable it.";

export function experimentalRoutes(r: Router): void {
  const disabled = () => {
    throw new DockerApiError(501, EXPERIMENTAL_OFF);
  };
  r.get("/containers/{id}/checkpoints", disabled);
  r.post("/containers/{id}/checkpoints", disabled);
  r.delete("/containers/{id}/checkpoints/{checkpoint}", disabled);
}
