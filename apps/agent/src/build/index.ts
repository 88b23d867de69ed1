/** The build layer's front door: the Dockerfile builder, its context and its errors. */
export { Builder, type BuildOutput, type BuildRequest, type BuilderDeps } from "./builder.ts";
export { DEFAULT_CONTEXT_LIMIT, receiveContext, TarContext } from "./tar-context.ts";
export { BuildError } from "./errors.ts";
