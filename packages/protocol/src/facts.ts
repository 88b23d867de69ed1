import { z } from "zod";

/** What an agent reports about its host. Sent on connect and whenever it changes. */
export const HostFactsSchema = z.object({
  hostname: z.string().max(255),
  os: z.object({
    id: z.string().max(64),
    name: z.string().max(128),
    version: z.string().max(64),
    prettyName: z.string().max(255),
  }),
  kernel: z.string().max(255),
  arch: z.string().max(32),
  cpus: z.number().int().nonnegative(),
  memoryBytes: z.number().int().nonnegative(),
  disk: z.object({
    path: z.string().max(4096),
    totalBytes: z.number().int().nonnegative(),
    freeBytes: z.number().int().nonnegative(),
  }),
  addresses: z
    .array(
      z.object({
        iface: z.string().max(64),
        family: z.enum(["IPv4", "IPv6"]),
        address: z.string().max(64),
      }),
    )
    .max(256),
  versions: z.object({
    runc: z.string().max(128).nullable(),
    conmon: z.string().max(128).nullable(),
    nft: z.string().max(128).nullable(),
  }),
});
export type HostFacts = z.infer<typeof HostFactsSchema>;
