import { DockerApiError, type Router } from "@berth/docker-api";
import type { FleetRequest } from "./context.ts";

/** What a registry holds for a reference, so `docker service create` and `stack deploy` can pin digests. */
export function imageRoutes(router: Router<FleetRequest>): void {
  router.get("/distribution/{name*}/json", async (r) => r.json(200, await r.api.images.distribution({ reference: r.params.name! })));
}

/**
 * Secrets and configs are not built yet (see the README): Berth holds none, which is what listing
 * them says (`docker stack rm` lists them to prune a stack's); creating one is refused by name.
 */
export function secretAndConfigRoutes(router: Router<FleetRequest>): void {
  for (const kind of ["secrets", "configs"] as const) {
    router.get(`/${kind}`, (r) => r.json(200, []));
    router.post(`/${kind}/create`, () => {
      throw new DockerApiError(501, `Berth does not support ${kind} yet`);
    });
    router.get(`/${kind}/{id}`, (r) => {
      throw new DockerApiError(404, `${kind === "secrets" ? "secret" : "config"} ${r.params.id} not found`);
    });
  }
}
