import { pinnedConnection as pinned } from "@berth/protocol/pinned-tls";
import { AgentError } from "../errors.ts";

export class PinMismatchError extends AgentError {
  override name = "PinMismatchError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, "FAILED", options);
  }
}

/**
 * A `createConnection` for http(s).request and ws that trusts exactly one certificate: the one
 * whose sha256 fingerprint the join token carried.
 */
export function pinnedConnection(fingerprint: string) {
  return pinned(fingerprint, (m) => new PinMismatchError(`the control plane's ${m}`));
}
