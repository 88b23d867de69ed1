import { type InvalidateOptions, type InvalidateQueryFilters, QueryClient } from "@tanstack/react-query";

/**
 * A QueryClient whose invalidation always refetches. TanStack joins a query's first fetch when it
 * is still in flight (it cancels only fetches of queries that already have data), and that fetch
 * may have read the database before the change being followed: a list opened and a row added in
 * the same moment would stay without the row. Such first fetches are cancelled first.
 */
export class RefetchingQueryClient extends QueryClient {
  override async invalidateQueries(filters?: InvalidateQueryFilters, options?: InvalidateOptions): Promise<void> {
    await this.cancelQueries({
      ...filters,
      predicate: (q) => q.state.data === undefined && q.state.fetchStatus === "fetching" && (filters?.predicate?.(q) ?? true),
    });
    return super.invalidateQueries(filters, options);
  }
}
