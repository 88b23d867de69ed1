export { StreamClient, StreamError, type StreamClientOptions } from "./stream-client.ts";
