/** The network layer's front door: bridge and overlay networks, endpoints, published ports, and its errors. */
export { NetworkService } from "./service.ts";
export { underlayAddress } from "./overlay.ts";
export type { CreateNetworkRequest, Endpoint, EndpointRequest, IpamConfigEntry, NetworkRecord } from "./service.ts";
export { requestedPorts } from "./ports.ts";
export type { PortMapping, RelayTarget } from "./ports.ts";
export type { RulePort } from "./nft-rules.ts";
export { NetworkCommandError, NetworkError, PortError } from "./errors.ts";
