import type { Router } from "@berth/docker-api";
import type { FleetRequest } from "./context.ts";

/** What a registry holds for a reference, so `docker service create` and `stack deploy` can pin digests. */
export function imageRoutes(router: Router<FleetRequest>): void {
  router.get("/distribution/{name*}/json", async (r) => r.json(200, await r.api.images.distribution({ reference: r.params.name! })));
}
