import { useQuery } from "@tanstack/react-query";
import type { Capabilities } from "../api/client";
import { useApi } from "../auth/useAuth";

/** Optional endpoints of this server; undefined while loading. */
export function useCapabilities(): Capabilities | undefined {
  const api = useApi();
  return useQuery({
    queryKey: ["capabilities"],
    queryFn: () => api.capabilities(),
    staleTime: Infinity,
    gcTime: Infinity,
  }).data;
}
