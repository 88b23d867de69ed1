import { z } from "zod";

/*
 * Secrets and configs (Swarm's objects): named data a team keeps on the control plane, which its
 * services' tasks get as files. Names and limits are Swarm's; a service's spec refers to them by name.
 */

export type ServiceFileKind = "secret" | "config";

/** Swarm's name rule for secrets and configs. */
export const ServiceFileNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-zA-Z0-9](?:[a-zA-Z0-9_.-]*[a-zA-Z0-9])?$/, "names are letters and digits, with inner dashes, underscores and dots");

/**
 * Swarm's limit for secrets is 500 KiB, and for configs 1000 KiB; Berth holds both to 500 KiB,
 * since a task's files travel to its host in one command frame (MAX_TASK_FILES_BYTES in all).
 */
export const MAX_SERVICE_FILE_BYTES = 500 * 1024;

export const ServiceFileLabelsSchema = z.record(z.string().min(1).max(1024), z.string().max(4096)).default({});

const Owner = z.string().regex(/^[0-9]{1,10}$/, "a numeric id");

/** How a service's tasks get one secret or config (Swarm's SecretReference/ConfigReference). */
export const ServiceFileRefSchema = z
  .object({
    /** The secret's or config's name, in the service's team. */
    source: ServiceFileNameSchema,
    /**
     * Where the file shows: a secret's relative target is under /run/secrets, a config's under /;
     * omitted, the source's name.
     */
    target: z
      .string()
      .min(1)
      .max(4096)
      .refine((p) => !p.split("/").includes(".."), "a target has no .. in it")
      .optional(),
    uid: Owner.default("0"),
    gid: Owner.default("0"),
    mode: z.number().int().min(0).max(0o777).default(0o444),
  })
  .strict();
export type ServiceFileRef = z.output<typeof ServiceFileRefSchema>;

/** The absolute path a reference's file takes in the container. */
export function fileTarget(kind: ServiceFileKind, ref: Pick<ServiceFileRef, "source" | "target">): string {
  const t = ref.target ?? ref.source;
  if (t.startsWith("/")) return t;
  return kind === "secret" ? `/run/secrets/${t}` : `/${t}`;
}
