// Image references are parsed the same way on both sides of the link; the parser lives in
// @berth/protocol so the control plane can find a reference's registry without the agent.
export * from "@berth/protocol/reference";
