import { z } from "zod";
import { ServiceFileNameSchema } from "../service-files/schema.ts";

/*
 * What a build is asked to do, checked at the edge (tRPC, REST) and again by the runner. The
 * context comes from a git repository or from files the caller sends (small projects: they travel
 * in the request); large contexts build from git, or with `docker build` against a host.
 */

/** Files sent with the request: a few MiB in all (the API's body limit is 4 MiB). */
export const MAX_UPLOAD_BYTES = 3 * 1024 * 1024;
/** Log kept per build; past it the rest is counted, not kept. */
export const MAX_BUILD_LOG_BYTES = 4 * 1024 * 1024;

/** A path inside the context: relative, "/"-separated, no `..`. */
export const ContextPathSchema = z
  .string()
  .min(1)
  .max(1024)
  .refine(
    (p) => !p.startsWith("/") && !p.split("/").some((s) => s === ".." || s === ""),
    "a context path is relative and has no .. or empty parts",
  );

/** git URLs Berth fetches: https, http or git:// (never file paths or ssh, which would read the control plane's own files or keys). */
export const GitUrlSchema = z
  .string()
  .min(1)
  .max(2048)
  .refine((u) => {
    try {
      const url = new URL(u);
      return ["https:", "http:", "git:"].includes(url.protocol) && url.hostname !== "" && !url.username && !url.password;
    } catch {
      return false;
    }
  }, "a git URL is https://, http:// or git://host/path, without credentials in it (give them separately)");

export const GitRefSchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[A-Za-z0-9._/@+-]+$/, "a git ref is a branch, a tag or a commit")
  .refine((r) => !r.startsWith("-") && !r.includes(".."), "a git ref cannot start with - or contain ..");

export const BuildSourceSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("git"),
    url: GitUrlSchema,
    ref: GitRefSchema.default("HEAD"),
    /** The context's directory inside the repository. */
    path: z
      .string()
      .max(1024)
      .default("")
      .refine((p) => p === "" || ContextPathSchema.safeParse(p).success, "the path is a directory inside the repository"),
    username: z.string().max(256).optional(),
    /** A password or token; stored sealed, never shown again. */
    password: z.string().max(4096).optional(),
  }),
  z.object({
    kind: z.literal("archive"),
    /** The context as one tar (gzip or zstd allowed), base64. */
    data: z.string().base64(),
  }),
  z.object({
    kind: z.literal("upload"),
    /** The context as files (a Dockerfile and what it copies), contents base64. */
    files: z
      .array(z.object({ path: ContextPathSchema, data: z.string().base64(), mode: z.number().int().min(0).max(0o7777).optional() }))
      .min(1)
      .max(1000),
  }),
]);
export type BuildSource = z.output<typeof BuildSourceSchema>;

const Tag = z
  .string()
  .min(1)
  .max(512)
  .regex(/^[a-z0-9]+([._\-/:@a-z0-9A-Z]*)$/, "a tag is name[:tag], as docker build -t takes it");

export const BuildRequestSchema = z.object({
  hostId: z.string().min(1).max(64),
  source: BuildSourceSchema,
  dockerfile: ContextPathSchema.default("Dockerfile"),
  tags: z.array(Tag).max(16).default([]),
  buildArgs: z.record(z.string().min(1).max(256), z.string().max(65_536)).default({}),
  /** Labels set on the image (a stack's build marks its context's identity). */
  labels: z.record(z.string().min(1).max(256), z.string().max(4096)).default({}),
  target: z.string().min(1).max(256).optional(),
  noCache: z.boolean().default(false),
  pull: z.boolean().default(false),
  /** Push the first tag to the team's registry for its domain once built. */
  push: z.boolean().default(false),
  /** The team's secrets (by name) the Dockerfile may mount: RUN --mount=type=secret,id=<name>. */
  secrets: z.array(ServiceFileNameSchema).max(32).default([]),
});
export type BuildRequestInput = z.input<typeof BuildRequestSchema>;
export type BuildRequest = z.output<typeof BuildRequestSchema>;

export type BuildStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled";
