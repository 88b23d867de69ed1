/** What the agent reports about its host. */
export { collectHostFacts } from "./host-facts.ts";
