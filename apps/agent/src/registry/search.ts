// The v1 search API (`GET /v1/search?q=&n=`) that `docker search` reaches through the daemon:
// Docker Hub answers it at its index, other registries at their own host. The answer's shape and
// the results as dockerd passes them on.
import { z } from "zod";

/** One repository found, with the fields and JSON names of dockerd's answer. */
export interface SearchResult {
  star_count: number;
  is_official: boolean;
  name: string;
  is_automated: boolean;
  description: string;
}

/** Docker Hub's index, where dockerd searches Docker Hub (never a registry mirror). */
export const HUB_INDEX = "https://index.docker.io";

/** A search answer is read up to this size: a page of at most 100 short entries fits in far less. */
export const MAX_SEARCH_BYTES = 1024 * 1024;

const SearchResponseSchema = z.object({
  results: z
    .array(
      z.object({
        name: z.string(),
        description: z.string().nullish(),
        star_count: z.number().int().nullish(),
        is_official: z.boolean().nullish(),
        is_automated: z.boolean().nullish(),
      }),
    )
    .nullish(),
});

/** The results of a registry's search answer; throws with dockerd's wording when it is not one. */
export function parseSearchResponse(body: Buffer): SearchResult[] {
  let json: unknown;
  try {
    json = JSON.parse(body.toString("utf8"));
  } catch (e) {
    throw new Error(`error decoding registry search results: ${(e as Error).message}`);
  }
  const parsed = SearchResponseSchema.safeParse(json);
  if (!parsed.success) throw new Error(`error decoding registry search results: ${parsed.error.issues[0]?.message ?? "invalid"}`);
  return (parsed.data.results ?? []).map((r) => ({
    star_count: r.star_count ?? 0,
    is_official: r.is_official ?? false,
    name: r.name,
    is_automated: r.is_automated ?? false,
    description: r.description ?? "",
  }));
}
