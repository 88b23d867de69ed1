import type { ClientRequestArgs } from "node:http";
import type { Duplex } from "node:stream";
import { connect, type TLSSocket } from "node:tls";

/** `AB:CD:…` or `abcd…` → `abcd…` */
export function normalizeFingerprint(fp: string): string {
  return fp.replace(/:/g, "").toLowerCase();
}

/**
 * A `createConnection` for http(s).request and ws that trusts exactly one certificate: the one
 * with this sha256 fingerprint (a join token's, or a control-plane replica's as it registered).
 * The handshake completes and the fingerprint is checked before the request (and its credential
 * header) is written to the socket. `mismatch` makes the error a wrong certificate fails with.
 */
export function pinnedConnection(fingerprint: string, mismatch: (message: string) => Error = (m) => new Error(m)) {
  const want = normalizeFingerprint(fingerprint);
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
      const got = normalizeFingerprint(socket.getPeerCertificate().fingerprint256 ?? "");
      if (got !== want)
        return fail(mismatch(`the TLS certificate (${got.slice(0, 16)}…) does not match the pinned one (${want.slice(0, 16)}…)`));
      callback(null, socket);
    });
    return undefined;
  };
}
