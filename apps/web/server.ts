// The control-plane process: Next.js for pages, plus the API, auth, agent gateway and install
// endpoints (see src/server/control-plane.ts). Run by `npm start`; configuration is env.ts.
import next from "next";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { loadEnv, prepareTls } from "./src/server/env.ts";
import { createControlPlane, type NextHandlers } from "./src/server/control-plane.ts";

const env = loadEnv();
await prepareTls(env);
let handlers: NextHandlers | undefined;
if (env.BERTH_WEB_UI === "1") {
  const app = next({
    dev: env.NODE_ENV === "development",
    dir: dirname(fileURLToPath(import.meta.url)),
    hostname: env.HOST,
    port: env.PORT,
  });
  await app.prepare();
  const handle = app.getRequestHandler();
  const upgrade = app.getUpgradeHandler();
  handlers = {
    handle: (req, res) => handle(req, res),
    upgrade: (req, socket, head) => upgrade(req, socket, head),
    close: () => app.close(),
  };
}

const cp = createControlPlane(env, handlers);
await cp.listen();
console.log(`berth control plane listening on ${env.HOST}:${env.PORT} (${cp.url})`);
// Nobody owns this install yet: only whoever has this link (from the server's own output) can claim it.
if (cp.setupLink) console.log(`berth setup link (one use, 24 h; create the owner account there): ${cp.setupLink}`);

let stopping = false;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    cp.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
