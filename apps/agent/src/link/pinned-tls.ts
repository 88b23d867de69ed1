import { connect, type TLSSocket } from "node:tls";
import type { ClientRequestArgs } from "node:http";
import type { Duplex } from "node:stream";
import { AgentError } from "../errors.ts";

export class PinMismatchError extends AgentError {
  override name = "PinMismatchError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, "FAILED", options);
  }
}

/** `AB:CD:…` or `abcd…` → `abcd…` */
function normalize(fp: string): string {
  return fp.replace(/:/g, "").toLowerCase();
}

/**
 * A `createConnection` for http(s).request and ws that trusts exactly one certificate: the one
 * whose sha256 fingerprint the join token carried. The handshake completes and the fingerprint
 * is checked before the request (and its credential header) is written to the socket.
 */
export function pinnedConnection(fingerprint: string) {
  const want = normalize(fingerprint);
  return (opts: ClientRequestArgs & { servername?: string }, callback: (err: Error | null, socket: Duplex) => void): undefined => {
    const host = opts.hostname ?? opts.host ?? "localhost";
    const isIp = /^[\d.]+$|:/.test(host);
    const socket: TLSSocket = connect({
      host,
      port: Number(opts.port ?? 443),
      // Chain and name checks are replaced by the pin; SNI still goes out for name-based hosts.
      rejectUnauthorized: false,
      ...(isIp ? {} : { servername: opts.servername ?? host }),
    });
    const fail = (err: Error) => {
      socket.destroy();
      callback(err, socket); // node ignores the socket when err is set
    };
    socket.once("error", fail);
    socket.once("secureConnect", () => {
      socket.off("error", fail);
      const got = normalize(socket.getPeerCertificate().fingerprint256 ?? "");
      if (got !== want)
        return fail(
          new PinMismatchError(
            `the control plane's TLS certificate (${got.slice(0, 16)}…) does not match the pinned one (${want.slice(0, 16)}…)`,
          ),
        );
      callback(null, socket);
    });
    return undefined;
  };
}
