export { Router, type Handler } from "./router.ts";
export { API_VERSION, MIN_API_VERSION, atLeast, compareVersions, versionedPath } from "./version.ts";
export { DockerApiError, badRequest } from "./errors.ts";
export { anyFilter, boolParam, filtersParam, intParam, labelsMatch, timeParam, type Filters } from "./query.ts";
export * from "./container-config.ts";
export * from "./compat.ts";
export * from "./streams.ts";
