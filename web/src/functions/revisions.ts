// Pure helpers of the History card: how a revision's changes read.
import type { Revision, SpecChange } from "../api/types";

/** A field's value in one revision, as the diff shows it; null when it was not set there. */
export function formatSpecValue(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === "string") return value === "" ? '""' : value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}

/** Whether the change sets a field that was not set, removes one, or changes it. */
export function changeKind(change: SpecChange): "added" | "removed" | "changed" {
  const from = formatSpecValue(change.from);
  const to = formatSpecValue(change.to);
  if (from === null && to !== null) return "added";
  if (to === null && from !== null) return "removed";
  return "changed";
}

/**
 * Whether `r` is the function's first revision, judged from the loaded list
 * (newest first): the last item when there are no older pages to load.
 */
export function isFirstRevision(r: Revision, loaded: Revision[], hasMore: boolean): boolean {
  return !hasMore && loaded.length > 0 && loaded[loaded.length - 1]?.revision === r.revision;
}

/**
 * An image digest as `docker images` shows it: the algorithm and the first 12
 * hex digits (`sha256:0123456789ab`). Anything not of the form `algorithm:hex`
 * is returned as it is; null when there is none (not known).
 */
export function shortDigest(digest: string | null | undefined): string | null {
  if (!digest) return null;
  const m = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([0-9a-f]{12,})$/i.exec(digest);
  const [, algorithm, hex] = m ?? [];
  return algorithm && hex ? `${algorithm}:${hex.slice(0, 12)}` : digest;
}
