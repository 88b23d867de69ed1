/** The link to the control plane: joining, the agent's WebSocket session, stream channels. */
export { AgentLink } from "./agent-link.ts";
export type { CommandHandler } from "./agent-link.ts";
export { JoinError, joinControlPlane } from "./join.ts";
export type { StreamChannel, StreamHandler } from "./stream-channel.ts";
