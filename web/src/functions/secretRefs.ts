// DOM ids of the create form's secret-reference inputs, from the display
// keys that formErrors.ts gives their errors.

export type SecretEnvSub = "name" | "secret" | "key";
export const SECRET_ENV_SUBS: readonly SecretEnvSub[] = ["name", "secret", "key"];

/** DOM id of a secret variable's input (`{rowId}.{sub}` as a display key). */
export function secretEnvInputId(rowId: string, sub: SecretEnvSub): string {
  return `${rowId}-${sub}`;
}

/** DOM id of a mounted secret's checkbox (`secretFile:{name}` as a display key). */
export function secretFileInputId(name: string): string {
  return `secret-file-${name}`;
}

/** Where a display key of the secrets section lives in the DOM; null for any other key. */
export function secretRefsInputId(key: string): string | null {
  const m = /^(senv-\d+)\.(name|secret|key)$/.exec(key);
  if (m?.[1] && m[2]) return secretEnvInputId(m[1], m[2] as SecretEnvSub);
  if (key.startsWith("secretFile:")) return secretFileInputId(key.slice("secretFile:".length));
  if (key === "secretEnv") return "secret-env-add";
  return null;
}
