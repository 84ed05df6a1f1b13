import { ApiError, type ApiClient } from "../api/client";
import type { FunctionObject, Sample } from "../api/types";
import { NAME_MAX } from "./validation";

const SUFFIX_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789";
export const SUFFIX_LENGTH = 4;
/** Names tried after the sample's own name is taken, before giving up. */
export const SUFFIX_ATTEMPTS = 4;

function randomSuffix(): string {
  const bytes = new Uint8Array(SUFFIX_LENGTH);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => SUFFIX_CHARS.charAt(b % SUFFIX_CHARS.length)).join("");
}

/**
 * `base` plus `-` and a short suffix, still a valid function name: the base is
 * cut so that the whole stays within NAME_MAX and does not end in '-'.
 */
export function suffixedName(base: string, suffix: string = randomSuffix()): string {
  const room = NAME_MAX - suffix.length - 1;
  const head = base.slice(0, room).replace(/-+$/, "");
  return `${head}-${suffix}`;
}

function isConflict(e: unknown): boolean {
  return e instanceof ApiError && e.status === 409 && e.code === "conflict";
}

/**
 * Creates a function from a sample in one step: named after the sample, or,
 * when the tenant already has a function of that name (409 conflict), after
 * the sample plus a short random suffix. Any other error is thrown as it is.
 */
export async function deploySample(
  api: ApiClient,
  sample: Sample,
  suffix: () => string = randomSuffix,
): Promise<FunctionObject> {
  let name = sample.name;
  for (let attempt = 0; ; attempt++) {
    try {
      return await api.createFunction({ name, image: sample.image });
    } catch (e) {
      if (!isConflict(e) || attempt >= SUFFIX_ATTEMPTS) throw e;
      name = suffixedName(sample.name, suffix());
    }
  }
}
