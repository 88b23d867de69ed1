import { AgentError } from "../errors.ts";

export class ImageError extends AgentError {
  override name = "ImageError";
}

export const noSuchImage = (name: string) => new ImageError(`No such image: ${name}`, "NOT_FOUND");
