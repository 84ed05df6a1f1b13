// The server state the dashboard reads, one hook per resource, and the one
// place its TanStack Query keys are spelled. Writes go through the client
// (mutations in the components) and then update or invalidate the cache with
// `queryKeys`, never with literal keys.
import {
  useInfiniteQuery,
  useQuery,
  type InfiniteData,
  type QueryClient,
} from "@tanstack/react-query";
import { useApi, useAuth } from "../auth/useAuth";
import { ApiError } from "./client";
import type { Invocation, InvocationList, InvocationStatus } from "./types";

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
  /** Every cached invocation list of one function (a prefix, to invalidate them all). */
  invocations: (name: string) => ["invocations", name] as const,
  /** GET /v1/functions/{name}/invocations?status=…, all pages (an infinite query). */
  invocationList: (name: string, status: InvocationStatus | "all") =>
    ["invocations", name, status] as const,
  /** GET /v1/invocations/{id}, with its attempt log. */
  invocation: (id: string) => ["invocation", id] as const,
};

export const LIST_REFRESH_MS = 3000;
export const DETAIL_REFRESH_MS = 3000;
export const ME_REFRESH_MS = 10_000;
export const FUNCTIONS_PAGE_SIZE = 50;
/** How often invocations are refetched while one is queued or running. */
export const INVOCATIONS_REFRESH_MS = 2000;
export const INVOCATIONS_PAGE_SIZE = 20;

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

/** The pages of an invocation list as the cache holds them. */
export type InvocationPages = InfiniteData<InvocationList, string | null>;

/** Whether an invocation may still change on its own (the worker has not finished it). */
export function isActive(inv: Pick<Invocation, "status">): boolean {
  return inv.status === "queued" || inv.status === "running";
}

/**
 * A function's asynchronous invocations, newest first, page by page (`status`
 * "all" for every status). Refetched every 2 s while any loaded one is queued
 * or running; otherwise only when asked (or invalidated).
 */
export function useInvocations(name: string, status: InvocationStatus | "all") {
  const api = useApi();
  return useInfiniteQuery({
    queryKey: queryKeys.invocationList(name, status),
    queryFn: ({ pageParam }) =>
      api.listInvocations(name, {
        status: status === "all" ? null : status,
        limit: INVOCATIONS_PAGE_SIZE,
        cursor: pageParam,
      }),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    refetchInterval: (q) =>
      q.state.data?.pages.some((p) => p.items.some(isActive)) ? INVOCATIONS_REFRESH_MS : false,
  });
}

/** One invocation with its attempt log, refetched every 2 s until it has finished. */
export function useInvocation(id: string) {
  const api = useApi();
  return useQuery({
    queryKey: queryKeys.invocation(id),
    queryFn: () => api.getInvocation(id),
    refetchInterval: (q) =>
      q.state.data && isActive(q.state.data) ? INVOCATIONS_REFRESH_MS : false,
  });
}

/**
 * Puts an invocation the server just returned (a new one from an asynchronous
 * invoke, or one re-driven) into the cache: in place wherever a cached list of
 * its function has it, at the top of the "all" list and of its own status's
 * list when they do not; then every list of the function is refetched.
 */
export function putInvocation(queryClient: QueryClient, inv: Invocation) {
  queryClient.setQueryData(queryKeys.invocation(inv.id), (old: Invocation | undefined) =>
    // a list item has no attempt log: keep the one already loaded until the refetch
    old ? { ...old, ...inv, attemptLog: inv.attemptLog ?? old.attemptLog } : inv,
  );
  const lists = queryClient.getQueriesData<InvocationPages>({
    queryKey: queryKeys.invocations(inv.function),
  });
  for (const [key, data] of lists) {
    if (!data) continue;
    const status = key[2];
    const present = data.pages.some((p) => p.items.some((i) => i.id === inv.id));
    let pages: InvocationList[];
    if (present) {
      pages = data.pages.map((p) => ({
        ...p,
        items: p.items.map((i) => (i.id === inv.id ? inv : i)),
      }));
    } else if (status === "all" || status === inv.status) {
      const [first, ...rest] = data.pages;
      pages = first ? [{ ...first, items: [inv, ...first.items] }, ...rest] : [{ items: [inv] }];
    } else {
      continue;
    }
    queryClient.setQueryData<InvocationPages>(key, { ...data, pages });
  }
  void queryClient.invalidateQueries({ queryKey: queryKeys.invocations(inv.function) });
  void queryClient.invalidateQueries({ queryKey: queryKeys.invocation(inv.id) });
}
