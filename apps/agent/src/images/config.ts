import { z } from "zod";

/** The OCI/Docker image config, as far as Berth reads it. Unknown fields are kept. */
export const ImageConfigSchema = z
  .object({
    created: z.string().optional(),
    author: z.string().optional(),
    architecture: z.string(),
    os: z.string(),
    variant: z.string().optional(),
    config: z
      .object({
        User: z.string().optional(),
        ExposedPorts: z.record(z.string(), z.object({}).loose()).nullable().optional(),
        Env: z.array(z.string()).nullable().optional(),
        Entrypoint: z.array(z.string()).nullable().optional(),
        Cmd: z.array(z.string()).nullable().optional(),
        Volumes: z.record(z.string(), z.object({}).loose()).nullable().optional(),
        WorkingDir: z.string().optional(),
        Labels: z.record(z.string(), z.string()).nullable().optional(),
        StopSignal: z.string().optional(),
        Healthcheck: z.unknown().optional(),
        OnBuild: z.array(z.string()).nullable().optional(),
        Shell: z.array(z.string()).nullable().optional(),
      })
      .loose()
      .optional(),
    rootfs: z.object({ type: z.literal("layers"), diff_ids: z.array(z.string().regex(/^sha256:[a-f0-9]{64}$/)) }),
    history: z
      .array(
        z.object({
          created: z.string().optional(),
          created_by: z.string().optional(),
          author: z.string().optional(),
          comment: z.string().optional(),
          empty_layer: z.boolean().optional(),
        }),
      )
      .optional(),
  })
  .loose();
export type ImageConfig = z.infer<typeof ImageConfigSchema>;
