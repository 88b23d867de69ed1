import type { Db } from "@berth/db";
import type { RegistryAccess } from "@berth/protocol";
import { isLoopbackRegistry } from "@berth/protocol/reference";
import { conflict, invalid, notFound } from "./errors.ts";
import type { SecretBox } from "./secret-box.ts";

export interface RegistryView {
  id: string;
  teamId: string;
  domain: string;
  insecure: boolean;
  username: string | null;
  hasPassword: boolean;
  createdAt: Date;
}

/**
 * Accepts what people paste: `ghcr.io`, `https://ghcr.io/`, `http://10.0.0.5:5000`,
 * `docker.io`, `127.0.0.1:5000`. Returns the host[:port] as it appears in image references, and
 * whether to use plain HTTP (the URL's scheme, or for a bare loopback address, yes).
 */
export function parseRegistryAddress(input: string): { domain: string; plainHttp: boolean } {
  const t = input.trim();
  const hasScheme = /^[a-z]+:\/\//i.test(t);
  const withScheme = hasScheme ? t : `https://${t}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw invalid(`not a registry address: ${JSON.stringify(input)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw invalid("a registry address is http:// or https://");
  if (url.pathname !== "/" || url.search || url.hash || url.username)
    throw invalid("a registry address is a host and optional port, without a path");
  let domain = url.host.toLowerCase();
  if (domain === "index.docker.io" || domain === "registry-1.docker.io") domain = "docker.io";
  // Without a scheme, loopback registries are plain HTTP as in Docker; others HTTPS.
  return { domain, plainHttp: hasScheme ? url.protocol === "http:" : isLoopbackRegistry(domain) };
}

function view(r: {
  id: string;
  teamId: string;
  domain: string;
  insecure: boolean;
  username: string | null;
  passwordEncrypted: string | null;
  createdAt: Date;
}): RegistryView {
  return {
    id: r.id,
    teamId: r.teamId,
    domain: r.domain,
    insecure: r.insecure,
    username: r.username,
    hasPassword: r.passwordEncrypted !== null,
    createdAt: r.createdAt,
  };
}

export async function listRegistries(db: Db, teamIds: string[]): Promise<RegistryView[]> {
  return (await db.registry.findMany({ where: { teamId: { in: teamIds } }, orderBy: { domain: "asc" } })).map(view);
}

export async function getRegistry(db: Db, id: string): Promise<RegistryView> {
  const r = await db.registry.findUnique({ where: { id } });
  if (!r) throw notFound("registry");
  return view(r);
}

export async function createRegistry(
  db: Db,
  box: SecretBox,
  input: { teamId: string; address: string; insecure?: boolean; username?: string | null; password?: string | null },
): Promise<RegistryView> {
  const { domain, plainHttp } = parseRegistryAddress(input.address);
  if (await db.registry.findUnique({ where: { teamId_domain: { teamId: input.teamId, domain } } }))
    throw conflict(`registry ${domain} is already configured`);
  const r = await db.registry.create({
    data: {
      teamId: input.teamId,
      domain,
      insecure: input.insecure ?? plainHttp,
      username: input.username || null,
      passwordEncrypted: input.password ? box.seal(input.password) : null,
    },
  });
  return view(r);
}

export async function updateRegistry(
  db: Db,
  box: SecretBox,
  id: string,
  input: { insecure?: boolean; username?: string | null; password?: string | null },
): Promise<RegistryView> {
  await getRegistry(db, id);
  const r = await db.registry.update({
    where: { id },
    data: {
      ...(input.insecure !== undefined ? { insecure: input.insecure } : {}),
      ...(input.username !== undefined ? { username: input.username || null } : {}),
      ...(input.password !== undefined ? { passwordEncrypted: input.password ? box.seal(input.password) : null } : {}),
    },
  });
  return view(r);
}

export async function removeRegistry(db: Db, id: string): Promise<void> {
  await getRegistry(db, id);
  await db.registry.delete({ where: { id } });
}

/** What an agent needs to reach `domain` for a team: decrypted here, sent only over the link. */
export async function registryAccessFor(db: Db, box: SecretBox, teamId: string, domain: string): Promise<RegistryAccess> {
  const r = await db.registry.findUnique({ where: { teamId_domain: { teamId, domain } } });
  if (!r) return null;
  return {
    insecure: r.insecure,
    ...(r.username ? { username: r.username } : {}),
    ...(r.passwordEncrypted ? { password: box.open(r.passwordEncrypted) } : {}),
  };
}
