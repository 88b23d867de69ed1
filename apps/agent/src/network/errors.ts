import { AgentError } from "../errors.ts";

/** A network request refused or failed; FORBIDDEN is an operation on a predefined network (bridge, host, none). */
export class NetworkError extends AgentError {
  override name = "NetworkError";
}

/** An address or prefix that does not parse. */
export class CidrError extends AgentError {
  override name = "CidrError";
  constructor(message: string) {
    super(message, "INVALID");
  }
}

/** An address pool that cannot give what was asked (INVALID) or has nothing left (CONFLICT). */
export class IpamError extends AgentError {
  override name = "IpamError";
}

/** A port mapping that does not parse (INVALID) or a host port that cannot be bound (CONFLICT). */
export class PortError extends AgentError {
  override name = "PortError";
}

/** ip(8) or nft(8) failed. */
export class NetworkCommandError extends AgentError {
  override name = "NetworkCommandError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, "FAILED", options);
  }
}
