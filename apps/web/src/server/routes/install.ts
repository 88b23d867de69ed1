import { createReadStream, existsSync, readFileSync, statSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { sendJson } from "./http-util.ts";

const TEMPLATE = readFileSync(new URL("../install.sh", import.meta.url), "utf8");

/** GET /install.sh, with this control plane's URL as the default --url. */
export function installScriptRoute(_req: IncomingMessage, res: ServerResponse, publicUrl: string): void {
  // PUBLIC_URL was validated as a URL; keep only characters that are inert inside double quotes.
  const safeUrl = publicUrl.replace(/[^A-Za-z0-9:/._\-[\]%]/g, "");
  const body = TEMPLATE.replace("__BERTH_DEFAULT_URL__", safeUrl);
  res.writeHead(200, {
    "content-type": "text/x-shellscript; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
  });
  res.end(body);
}

/** GET /agent/berth-agent.js: the single-file agent built from apps/agent. */
export function agentBundleRoute(_req: IncomingMessage, res: ServerResponse, bundlePath: string): void {
  if (!existsSync(bundlePath)) {
    sendJson(res, 503, { error: "the agent bundle has not been built (npm start builds it)" });
    return;
  }
  res.writeHead(200, {
    "content-type": "text/javascript; charset=utf-8",
    "content-length": statSync(bundlePath).size,
    "cache-control": "no-store",
  });
  createReadStream(bundlePath).pipe(res);
}
