// The server state the dashboard reads, one hook per resource, and the one
// place its TanStack Query keys are spelled. Writes go through the client
// (mutations in the components) and then update or invalidate the cache with
// `queryKeys`, never with literal keys.
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { useApi, useAuth } from "../auth/useAuth";
import { ApiError } from "./client";

/** Key factory: every cache entry the dashboard uses. */
export const queryKeys = {
  /** GET /auth/config (before sign-in). */
  authConfig: () => ["auth-config"] as const,
  /** GET /v1/me: identity, quota usage and per-function limits. */
  me: () => ["me"] as const,
  /** GET /v1/functions, all pages (an infinite query). */
  functions: () => ["functions"] as const,
  /** GET /v1/functions/{name}. */
  function: (name: string) => ["function", name] as const,
  /** GET /v1/samples. */
  samples: () => ["samples"] as const,
  /** GET /v1/registry-credentials. */
  registryCredentials: () => ["registry-credentials"] as const,
};

export const LIST_REFRESH_MS = 3000;
export const DETAIL_REFRESH_MS = 3000;
export const ME_REFRESH_MS = 10_000;
export const FUNCTIONS_PAGE_SIZE = 50;

/** The sign-in options; the server's configuration, so read once. */
export function useAuthConfig() {
  const { client } = useAuth();
  return useQuery({
    queryKey: queryKeys.authConfig(),
    queryFn: () => client.authConfig(),
    staleTime: Infinity,
  });
}

/**
 * The signed-in tenant. `live` refetches it every 10 s (the tenant page shows
 * quota usage); forms that only need `limits` read it once per mount.
 */
export function useMe({ live = false }: { live?: boolean } = {}) {
  const api = useApi();
  return useQuery({
    queryKey: queryKeys.me(),
    queryFn: () => api.me(),
    refetchInterval: live ? ME_REFRESH_MS : false,
  });
}

/** The tenant's functions, page by page, refetched every 3 s. */
export function useFunctions() {
  const api = useApi();
  return useInfiniteQuery({
    queryKey: queryKeys.functions(),
    queryFn: ({ pageParam }) =>
      api.listFunctions({ limit: FUNCTIONS_PAGE_SIZE, cursor: pageParam }),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    refetchInterval: LIST_REFRESH_MS,
  });
}

/** One function, refetched every 3 s until it turns out not to exist. */
export function useFunction(name: string) {
  const api = useApi();
  return useQuery({
    queryKey: queryKeys.function(name),
    queryFn: () => api.getFunction(name),
    refetchInterval: (q) =>
      q.state.error instanceof ApiError && q.state.error.status === 404 ? false : DETAIL_REFRESH_MS,
    retry: (count, e) => !(e instanceof ApiError && e.status < 500 && e.status !== 0) && count < 2,
  });
}

/** The sample images the server offers; its configuration, so read once. */
export function useSamples() {
  const api = useApi();
  return useQuery({
    queryKey: queryKeys.samples(),
    queryFn: () => api.listSamples(),
    staleTime: Infinity,
  });
}

/** The tenant's registry logins (never their passwords). */
export function useRegistryCredentials() {
  const api = useApi();
  return useQuery({
    queryKey: queryKeys.registryCredentials(),
    queryFn: () => api.listRegistryCredentials(),
  });
}
