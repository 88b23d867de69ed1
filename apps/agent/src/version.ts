/** Kept equal to apps/agent/package.json's version; a unit test checks that. */
export const AGENT_VERSION = "0.1.0";
