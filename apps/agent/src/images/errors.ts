export class ImageError extends Error {
  override name = "ImageError";
  constructor(
    message: string,
    readonly code: "NOT_FOUND" | "CONFLICT" | "INVALID" | "REGISTRY",
  ) {
    super(message);
  }
}

export const noSuchImage = (name: string) => new ImageError(`No such image: ${name}`, "NOT_FOUND");
