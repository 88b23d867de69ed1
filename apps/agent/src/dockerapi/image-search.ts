// GET /images/search (`docker search`): the term names the registry as dockerd reads it, the
// registry's v1 search API answers, and the is-official, is-automated and stars filters are
// applied here, with dockerd's checks and messages.
import type { SearchResult } from "../registry/index.ts";
import type { ApiContext } from "./context.ts";
import { badRequest, DockerApiError } from "./errors.ts";
import { filtersParam } from "@berth/docker-api";

const SEARCH_FILTERS = ["is-automated", "is-official", "stars"] as const;
/** dockerd's registry.DefaultSearchLimit. */
const DEFAULT_LIMIT = 25;

export interface SearchRequest {
  /** The registry: docker.io for Docker Hub. */
  domain: string;
  /** The term as the registry gets it. */
  term: string;
  limit: number;
  keep: (r: SearchResult) => boolean;
}

/** Reads and checks a search request in dockerd's order: limit syntax, filters, term, limit range. */
export function searchRequest(ctx: ApiContext): SearchRequest {
  const rawLimit = ctx.query.get("limit") ?? "";
  let limit = DEFAULT_LIMIT;
  if (rawLimit !== "") {
    // dockerd returns strconv's own error here, unwrapped, so a 500.
    if (!/^[+-]?\d+$/.test(rawLimit)) throw new DockerApiError(500, `strconv.Atoi: parsing ${JSON.stringify(rawLimit)}: invalid syntax`);
    limit = Number(rawLimit);
    if (!Number.isSafeInteger(limit))
      throw new DockerApiError(500, `strconv.Atoi: parsing ${JSON.stringify(rawLimit)}: value out of range`);
  }
  const keep = resultFilter(ctx.query);
  const { domain, term } = splitSearchTerm(ctx.query.get("term") ?? "");
  // dockerd checks the range after it has reached the registry; nothing is asked of it here for a request that will fail.
  if (limit < 1 || limit > 100) throw badRequest(`Limit ${limit} is outside the range of [1, 100]`);
  return { domain, term, limit, keep };
}

/** The registry a term names, as dockerd splits it: a first component with a dot or a port, or localhost, is a registry. */
export function splitSearchTerm(term: string): { domain: string; term: string } {
  if (term.includes("://")) throw new DockerApiError(500, 'Invalid repository name (ex: "registry.domain.tld/myrepos")');
  const slash = term.indexOf("/");
  const first = slash < 0 ? "" : term.slice(0, slash);
  if (slash < 0 || (!first.includes(".") && !first.includes(":") && first !== "localhost")) {
    // Docker Hub keeps official images under library/; its index knows them by their short name.
    return { domain: "docker.io", term: term.replace(/^library\//, "") };
  }
  const domain = first === "index.docker.io" ? "docker.io" : first;
  if (domain.startsWith("-") || domain.endsWith("-"))
    throw new DockerApiError(500, `invalid index name (${domain}). Cannot begin or end with a hyphen`);
  const rest = term.slice(slash + 1);
  return { domain, term: domain === "docker.io" ? rest.replace(/^library\//, "") : rest };
}

/** The filters as a predicate on results. */
function resultFilter(q: URLSearchParams): (r: SearchResult) => boolean {
  const f = filtersParam(q, SEARCH_FILTERS);
  const flag = (name: "is-automated" | "is-official"): boolean | undefined => {
    const values = f.get(name);
    if (values === undefined) return undefined;
    // dockerd's UniqueExactMatch: no value at all counts as a match.
    if (values.length === 0) return true;
    if (values.length === 1 && (values[0] === "true" || values[0] === "false")) return values[0] === "true";
    throw badRequest(`Invalid filter '${name}=[${values.join(" ")}]'`);
  };
  const automated = flag("is-automated");
  const official = flag("is-official");
  let minStars: number | undefined;
  for (const v of f.get("stars") ?? []) {
    if (!/^[+-]?\d+$/.test(v)) throw badRequest(`Invalid filter 'stars=${v}'`);
    minStars = Math.max(minStars ?? 0, Number(v));
  }
  return (r) =>
    (automated === undefined || r.is_automated === automated) &&
    (official === undefined || r.is_official === official) &&
    (minStars === undefined || r.star_count >= minStars);
}
