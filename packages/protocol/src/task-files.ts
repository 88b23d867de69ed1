import { z } from "zod";

/*
 * Secrets and configs a task gets as files (Swarm's /run/secrets/<name> and config targets). The
 * control plane resolves them for each task it creates and sends their contents with the create;
 * the agent keeps them only in memory (a tmpfs per container), never in its records or on disk.
 */

/** What one task's files may total: they travel in one command frame (1 MiB, base64 included). */
export const MAX_TASK_FILES_BYTES = 640 * 1024;

export const TaskFileSchema = z
  .object({
    /** Where the file shows in the container: an absolute path, resolved by the control plane. */
    target: z
      .string()
      .min(2)
      .max(4096)
      .regex(/^\/[^\0]*$/, "a task file's target is an absolute path")
      .refine((p) => !p.split("/").includes(".."), "a task file's target has no .. in it")
      .refine((p) => !p.endsWith("/"), "a task file's target names a file"),
    /** Its contents, base64. */
    data: z
      .string()
      .max(Math.ceil(MAX_TASK_FILES_BYTES / 3) * 4)
      .base64(),
    /** Numeric owner and group in the container, and permission bits (Swarm's defaults 0, 0 and 0444). */
    uid: z
      .string()
      .regex(/^[0-9]{1,10}$/, "uid is numeric")
      .default("0"),
    gid: z
      .string()
      .regex(/^[0-9]{1,10}$/, "gid is numeric")
      .default("0"),
    mode: z.number().int().min(0).max(0o7777).default(0o444),
  })
  .strict();
export type TaskFile = z.output<typeof TaskFileSchema>;

export const TaskFilesSchema = z
  .array(TaskFileSchema)
  .max(512)
  .superRefine((files, ctx) => {
    const total = files.reduce((n, f) => n + Buffer.byteLength(f.data, "base64"), 0);
    if (total > MAX_TASK_FILES_BYTES)
      ctx.addIssue({ code: "custom", message: `a task's secrets and configs total ${total} bytes; at most ${MAX_TASK_FILES_BYTES} fit` });
    const seen = new Set<string>();
    for (const [i, f] of files.entries()) {
      if (seen.has(f.target)) ctx.addIssue({ code: "custom", message: `two task files at ${f.target}`, path: [i, "target"] });
      seen.add(f.target);
    }
  });
