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
