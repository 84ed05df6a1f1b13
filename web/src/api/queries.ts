// The server state the dashboard reads, one hook per resource, and the one
// place its TanStack Query keys are spelled. Writes go through the client
// (mutations in the components) and then update or invalidate the cache with
// `queryKeys`, never with literal keys.
import {
  keepPreviousData,
  useInfiniteQuery,
  useQuery,
  type InfiniteData,
  type QueryClient,
} from "@tanstack/react-query";
import { useApi, useAuth } from "../auth/useAuth";
import { ApiError } from "./client";
import type {
  Invocation,
  InvocationList,
  InvocationStatus,
  InvokeKey,
  InvokeKeyList,
  NewInvokeKey,
  RevisionList,
  Secret,
  SecretList,
} from "./types";

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
  /** Everything cached about the tenant's secrets (a prefix: the list and each one). */
  secrets: () => ["secrets"] as const,
  /** GET /v1/secrets: names, keys and sizes, never values. */
  secretList: () => ["secrets", "list"] as const,
  /** GET /v1/secrets/{name}, with `usedBy`. */
  secret: (name: string) => ["secrets", "one", name] as const,
  /** Every cached invocation list of one function (a prefix, to invalidate them all). */
  invocations: (name: string) => ["invocations", name] as const,
  /** GET /v1/functions/{name}/invocations?status=…, all pages (an infinite query). */
  invocationList: (name: string, status: InvocationStatus | "all") =>
    ["invocations", name, status] as const,
  /** GET /v1/invocations/{id}, with its attempt log. */
  invocation: (id: string) => ["invocation", id] as const,
  /** Everything cached about a function's revisions (a prefix: the list and the diffs). */
  revisions: (name: string) => ["revisions", name] as const,
  /** GET /v1/functions/{name}/revisions, all pages (an infinite query). */
  revisionList: (name: string) => ["revisions", name, "list"] as const,
  /** GET /v1/functions/{name}/revisions/{revision}/diff against the revision before. */
  revisionDiff: (name: string, revision: number) => ["revisions", name, "diff", revision] as const,
  /** GET /v1/functions/{name}/invoke-keys. */
  invokeKeys: (name: string) => ["invoke-keys", name] as const,
  /** Every cached metrics range of one function (a prefix). */
  metrics: (name: string) => ["metrics", name] as const,
  /** GET /v1/functions/{name}/metrics?range=…. */
  functionMetrics: (name: string, range: string) => ["metrics", name, range] as const,
  /** GET /v1/metrics?range=…: the tenant overview (not under `metrics(name)`). */
  tenantMetrics: (range: string) => ["tenant-metrics", range] as const,
};

export const LIST_REFRESH_MS = 3000;
export const DETAIL_REFRESH_MS = 3000;
export const ME_REFRESH_MS = 10_000;
export const FUNCTIONS_PAGE_SIZE = 50;
/** How often invocations are refetched while one is queued or running. */
export const INVOCATIONS_REFRESH_MS = 2000;
export const INVOCATIONS_PAGE_SIZE = 20;
export const REVISIONS_PAGE_SIZE = 20;
/** How often a function's metrics are refetched: the server's finest step is 10 s. */
export const METRICS_REFRESH_MS = 10_000;

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

/**
 * The tenant's secrets (never their values): the tenant page's Secrets card
 * and the create form's secret pickers.
 */
export function useSecrets() {
  const api = useApi();
  return useQuery({
    queryKey: queryKeys.secretList(),
    queryFn: () => api.listSecrets(),
  });
}

/** One secret with the functions that read it (`usedBy`); `enabled` false to wait. */
export function useSecret(name: string, enabled = true) {
  const api = useApi();
  return useQuery({
    queryKey: queryKeys.secret(name),
    queryFn: () => api.getSecret(name),
    enabled,
  });
}

/**
 * A secret as the cache may hold it: only the fields the server lists, so
 * nothing else a response might carry is ever cached (and values never are:
 * they go out in the PUT body and nowhere else).
 */
function listedSecret(s: Secret): Secret {
  return {
    name: s.name,
    keys: [...s.keys],
    sizeBytes: s.sizeBytes,
    version: s.version,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
}

/**
 * Puts a secret the server just saved (created or replaced) into the cached
 * list, in name order, and drops its cached detail (its `usedBy` is read
 * again when next asked for); then the list is refetched.
 */
export function putSecret(queryClient: QueryClient, saved: Secret) {
  const listed = listedSecret(saved);
  queryClient.setQueryData<SecretList>(queryKeys.secretList(), (old) =>
    old
      ? {
          ...old,
          items: [...old.items.filter((s) => s.name !== listed.name), listed].sort((a, b) =>
            a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
          ),
        }
      : old,
  );
  queryClient.removeQueries({ queryKey: queryKeys.secret(saved.name) });
  void queryClient.invalidateQueries({ queryKey: queryKeys.secretList() });
}

/** Takes a deleted secret out of the cached list and forgets its detail; then refetches the list. */
export function forgetSecret(queryClient: QueryClient, name: string) {
  queryClient.setQueryData<SecretList>(queryKeys.secretList(), (old) =>
    old ? { ...old, items: old.items.filter((s) => s.name !== name) } : old,
  );
  queryClient.removeQueries({ queryKey: queryKeys.secret(name) });
  void queryClient.invalidateQueries({ queryKey: queryKeys.secretList() });
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

/** The pages of a revision list as the cache holds them. */
export type RevisionPages = InfiniteData<RevisionList, string | null>;

/**
 * A function's revisions, newest first, page by page. Not polled: the history
 * card refetches it when the function's generation changes (every change of
 * the spec is a revision).
 */
export function useRevisions(name: string) {
  const api = useApi();
  return useInfiniteQuery({
    queryKey: queryKeys.revisionList(name),
    queryFn: ({ pageParam }) =>
      api.listRevisions(name, { limit: REVISIONS_PAGE_SIZE, cursor: pageParam }),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
}

/**
 * What revision `revision` changed from the one before it. Revisions never
 * change, so it is read once per mount; `enabled` false for the first one
 * (the server has nothing to compare it with).
 */
export function useRevisionDiff(name: string, revision: number, enabled = true) {
  const api = useApi();
  return useQuery({
    queryKey: queryKeys.revisionDiff(name, revision),
    queryFn: () => api.diffRevision(name, revision),
    enabled,
  });
}

/** A function's invoke keys (never the keys themselves). */
export function useInvokeKeys(name: string) {
  const api = useApi();
  return useQuery({
    queryKey: queryKeys.invokeKeys(name),
    queryFn: () => api.listInvokeKeys(name),
  });
}

/**
 * Adds a key just made to its function's cached list, without the key itself:
 * that is shown once, by the component that made it, and never cached. Then
 * the list is refetched.
 */
export function putInvokeKey(queryClient: QueryClient, created: NewInvokeKey) {
  const listed: InvokeKey = {
    id: created.id,
    function: created.function,
    name: created.name,
    prefix: created.prefix,
    createdAt: created.createdAt,
    expiresAt: created.expiresAt,
    revokedAt: created.revokedAt,
    lastUsedAt: created.lastUsedAt,
    active: created.active,
  };
  queryClient.setQueryData<InvokeKeyList>(queryKeys.invokeKeys(created.function), (old) =>
    old ? { ...old, items: [...old.items.filter((k) => k.id !== created.id), listed] } : old,
  );
  void queryClient.invalidateQueries({ queryKey: queryKeys.invokeKeys(created.function) });
}

/** Marks a key revoked in the cached list at once, then refetches the list to confirm it. */
export function markInvokeKeyRevoked(
  queryClient: QueryClient,
  name: string,
  id: string,
  at: string = new Date().toISOString(),
) {
  queryClient.setQueryData<InvokeKeyList>(queryKeys.invokeKeys(name), (old) =>
    old
      ? {
          ...old,
          items: old.items.map((k) =>
            k.id === id ? { ...k, revokedAt: k.revokedAt ?? at, active: false } : k,
          ),
        }
      : old,
  );
  void queryClient.invalidateQueries({ queryKey: queryKeys.invokeKeys(name) });
}

/**
 * A function's metrics over `range`, refetched every 10 s while the page is
 * visible (TanStack Query skips the interval in a background tab). The last
 * range's data stays on screen while another range loads; refused ranges
 * (422) and unknown functions (404) are not retried.
 */
export function useFunctionMetrics(name: string, range: string) {
  const api = useApi();
  return useQuery({
    queryKey: queryKeys.functionMetrics(name, range),
    queryFn: () => api.getFunctionMetrics(name, range),
    refetchInterval: (q) =>
      q.state.error instanceof ApiError && q.state.error.status < 500 ? false : METRICS_REFRESH_MS,
    refetchIntervalInBackground: false,
    placeholderData: keepPreviousData,
    retry: (count, e) => !(e instanceof ApiError && e.status < 500 && e.status !== 0) && count < 2,
  });
}

/**
 * The tenant overview (GET /v1/metrics) over `range`, polled like a
 * function's metrics: every 10 s while the page is visible, the last range
 * kept on screen while another loads, a 4xx neither retried nor polled.
 */
export function useTenantMetrics(range: string) {
  const api = useApi();
  return useQuery({
    queryKey: queryKeys.tenantMetrics(range),
    queryFn: () => api.getTenantMetrics(range),
    refetchInterval: (q) =>
      q.state.error instanceof ApiError && q.state.error.status < 500 ? false : METRICS_REFRESH_MS,
    refetchIntervalInBackground: false,
    placeholderData: keepPreviousData,
    retry: (count, e) => !(e instanceof ApiError && e.status < 500 && e.status !== 0) && count < 2,
  });
}
