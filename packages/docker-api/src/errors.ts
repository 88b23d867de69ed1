/** An error with the HTTP status the Docker API answers it with (its body is `{"message": …}`). */
export class DockerApiError extends Error {
  override name = "DockerApiError";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const badRequest = (message: string) => new DockerApiError(400, message);
