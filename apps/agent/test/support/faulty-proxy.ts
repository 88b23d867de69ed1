// A loopback HTTP proxy in front of a test registry that breaks blob downloads on purpose:
// flips a byte ("corrupt"), or drops the connection part-way through the first download ("cut").
import { createServer, request, type Server } from "node:http";
import { freeLoopbackPort } from "../../../../scripts/postgres.ts";

export interface FaultyProxy {
  domain: string;
  /** Range headers seen on blob GETs, in order ("" when none). */
  ranges: string[];
  close(): Promise<void>;
}

export async function startFaultyProxy(
  target: string,
  fault: { kind: "corrupt" } | { kind: "cut"; afterBytes: number },
): Promise<FaultyProxy> {
  const port = await freeLoopbackPort();
  const ranges: string[] = [];
  let cutDone = false;
  const server: Server = createServer((req, res) => {
    const isBlobGet = req.method === "GET" && /\/blobs\/sha256:/.test(req.url ?? "");
    if (isBlobGet) ranges.push(String(req.headers.range ?? ""));
    const up = request(`${target}${req.url}`, { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, (upRes) => {
      if (!isBlobGet || upRes.statusCode! >= 300) {
        res.writeHead(upRes.statusCode!, upRes.headers);
        upRes.pipe(res);
        return;
      }
      res.writeHead(upRes.statusCode!, upRes.headers);
      let sent = 0;
      let flipped = false;
      upRes.on("data", (chunk: Buffer) => {
        if (fault.kind === "corrupt" && !flipped) {
          const copy = Buffer.from(chunk);
          copy[0] = copy[0]! ^ 0xff;
          flipped = true;
          res.write(copy);
          return;
        }
        if (fault.kind === "cut" && !cutDone && sent + chunk.length > fault.afterBytes) {
          cutDone = true;
          upRes.destroy();
          // Once the bytes before the cut are out, kill the socket mid-body.
          res.write(chunk.subarray(0, fault.afterBytes - sent), () => res.socket?.destroy());
          return;
        }
        sent += chunk.length;
        res.write(chunk);
      });
      upRes.on("end", () => res.end());
    });
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
  return {
    domain: `127.0.0.1:${port}`,
    ranges,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
