// Pure helpers of the Invoke keys card: expiry choices, the name check, a key's state.
import type { InvokeKey } from "../api/types";

/** At most this many keys per function; revoked ones count until the function is deleted. */
export const MAX_INVOKE_KEYS = 20;
/** The server's limit on a key's name (trimmed), in bytes of UTF-8 as it counts. */
export const KEY_NAME_MAX = 64;

const DAY = 24 * 3600;

/** The expiry choices of the form, as `expiresInSeconds` (null: until revoked). */
export const EXPIRY_CHOICES: { value: string; label: string; seconds: number | null }[] = [
  { value: "never", label: "Never (until revoked)", seconds: null },
  { value: "1d", label: "In 1 day", seconds: DAY },
  { value: "30d", label: "In 30 days", seconds: 30 * DAY },
  { value: "1y", label: "In 1 year", seconds: 365 * DAY },
];

/** `expiresInSeconds` of a choice; undefined sends none (the key lasts until revoked). */
export function expiresInSeconds(choice: string): number | undefined {
  return EXPIRY_CHOICES.find((c) => c.value === choice)?.seconds ?? undefined;
}

/** What the server checks of a key's name, checked first in the browser; null when fine. */
export function validateKeyName(raw: string): string | null {
  const name = raw.trim();
  if (name === "") return "Give the key a name, e.g. what it is for.";
  if (new TextEncoder().encode(name).length > KEY_NAME_MAX)
    return `At most ${KEY_NAME_MAX} characters.`;
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return "No control characters.";
  return null;
}

/** Whether a key still works, and if not, why: revoked, or past its expiry. */
export function invokeKeyState(key: InvokeKey): "active" | "revoked" | "expired" {
  if (key.revokedAt) return "revoked";
  if (key.active) return "active";
  return "expired";
}

/** The request a webhook sender makes with a key. */
export function curlExample(origin: string, fn: string, key: string): string {
  return `curl -X POST ${origin}/v1/functions/${encodeURIComponent(fn)}/invoke -H "Authorization: Bearer ${key}"`;
}
