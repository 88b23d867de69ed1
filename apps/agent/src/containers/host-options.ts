// Create-time checks of the HostConfig options that name other containers or host facilities
// (namespaces, links, volumes-from, runtime, isolation, extra hosts), with the messages dockerd
// gives, and the warnings it returns for settings this host cannot honour. The volume driver is
// checked with the mounts (mounts.ts), where a volume would come from it.
import { isIP } from "node:net";
import type { ContainerConfig } from "@berth/protocol";
import { resourceWarnings, SpecError } from "../runtime/index.ts";
import { parseExtraHosts } from "./etc-files.ts";
import { ContainerError } from "./errors.ts";
import { checkLinks } from "./links.ts";
import type { ContainerRecord } from "./record.ts";
import { checkNamespaceModes } from "./shared-namespaces.ts";

/** The OCI runtimes this host offers, and why an installed one is not. */
export interface RuntimeNames {
  names(): string[];
  whyUnusable(name: string): string | undefined;
}

/**
 * Throws dockerd's refusal for options it would refuse; returns its warnings for the rest.
 * `runtimes` are the OCI runtimes this host has (HostConfig.Runtime).
 */
export function checkHostOptions(config: ContainerConfig, find: (ref: string) => ContainerRecord, runtimes: RuntimeNames): string[] {
  const host = config.HostConfig;
  if (host.Runtime && !runtimes.names().includes(host.Runtime)) {
    const why = runtimes.whyUnusable(host.Runtime);
    throw new ContainerError(`unknown or invalid runtime name: ${host.Runtime}${why ? ` (installed, but ${why})` : ""}`, "INVALID");
  }
  if (host.Isolation && host.Isolation !== "default") {
    throw new ContainerError(`Invalid isolation: "${host.Isolation}" - linux only supports 'default'`, "INVALID");
  }
  const swappiness = host.MemorySwappiness;
  if (swappiness !== undefined && swappiness !== null && swappiness > 100) {
    throw new ContainerError(`Invalid value: ${swappiness}, valid memory swappiness range is 0-100`, "INVALID");
  }
  checkNamespaceModes(config, find);
  if (host.NetworkMode === "host" && host.Links?.length) {
    throw new ContainerError(
      "conflicting options: host type networking can't be used with links. This would result in undefined behavior",
      "INVALID",
    );
  }
  checkLinks(host.Links ?? [], find);
  parseExtraHosts(host.ExtraHosts ?? []);
  for (const ip of host.Dns ?? []) if (isIP(ip) === 0) throw new ContainerError(`${ip} is not an ip address`, "INVALID");
  const warnings: string[] = [];
  try {
    warnings.push(...resourceWarnings(host));
  } catch (e) {
    if (e instanceof SpecError) throw new ContainerError(e.message, "INVALID");
    throw e;
  }
  return warnings;
}
