import { ZodError } from "zod";
import { AgentError, type ErrorCode } from "../errors.ts";
import { RegistryError } from "../registry/index.ts";
import { InvalidReferenceError } from "../registry/index.ts";

import { DockerApiError } from "@berth/docker-api";

export { DockerApiError, badRequest } from "@berth/docker-api";

const BY_CODE: Record<ErrorCode, number> = {
  NOT_FOUND: 404,
  CONFLICT: 409,
  INVALID: 400,
  FORBIDDEN: 403,
  NOT_MODIFIED: 304,
  FAILED: 500,
  REGISTRY: 500,
  NOT_IMPLEMENTED: 501,
};

/** The status and message of Docker's error body (`{"message": …}`) for any error a handler throws. */
export function toDockerError(e: unknown): { status: number; message: string } {
  if (e instanceof DockerApiError) return { status: e.status, message: e.message };
  if (e instanceof ZodError) {
    const issues = e.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`);
    return { status: 400, message: `invalid request: ${issues.join("; ")}` };
  }
  if (e instanceof InvalidReferenceError) return { status: 400, message: e.message };
  if (e instanceof RegistryError) {
    // As dockerd: a missing repository or manifest is a 404, a refusal keeps its 401 or 403, the rest is a 500.
    return { status: e.status === 404 ? 404 : e.status === 401 || e.status === 403 ? e.status : 500, message: e.message };
  }
  if (e instanceof AgentError) return { status: BY_CODE[e.code], message: e.message };
  return { status: 500, message: e instanceof Error ? e.message : String(e) };
}
