// The secret form's own checks: the server's rules (eventflow-core
// `SecretName`, `check_key`, `SecretData::parse`) in short, so most mistakes
// are caught before a round trip. The server has the last word: its 422
// lands on the field it names (`secretErrorKey`).

/** Longest secret name: the volume `secret-{name}` must stay a 63-character label. */
export const SECRET_NAME_MAX = 56;
/** Keys in one secret. */
export const MAX_SECRET_KEYS = 64;
/** Longest key (a file name in the mounted directory). */
export const SECRET_KEY_MAX = 253;
/** Keys and values of one secret together, in bytes (UTF-8). */
export const MAX_SECRET_BYTES = 64 * 1024;
/** Secrets one tenant may keep (403 `quota_exceeded` past it). */
export const MAX_SECRETS = 40;
/** Where a function finds a mounted secret: `{dir}/{secret}/{key}`. */
export const SECRET_FILES_DIR = "/var/eventflow/secrets";

/** One key/value row of the form. The value lives only in the form's state. */
export interface SecretRow {
  id: string;
  key: string;
  value: string;
}

let nextId = 0;
/** A new row with a unique id (React key, error key and DOM ids). */
export function newSecretRow(key = ""): SecretRow {
  nextId += 1;
  return { id: `secret-row-${nextId}`, key, value: "" };
}

/** A DNS label of 1–56 lowercase letters, digits and '-', starting and ending alphanumeric. */
export function validateSecretName(name: string): string | null {
  if (name === "") return "Enter a name.";
  if (name.length > SECRET_NAME_MAX) return `At most ${SECRET_NAME_MAX} characters.`;
  const bad = [...name].find((c) => !/[a-z0-9-]/.test(c));
  if (bad !== undefined)
    return `Lowercase letters, digits and '-' only (found ${JSON.stringify(bad)}).`;
  if (name.startsWith("-") || name.endsWith("-")) return "Start and end with a letter or digit.";
  return null;
}

/** A key as Kubernetes allows it (and as a file name): 1–253 of letters, digits, '-', '_', '.'. */
export function validateSecretKey(key: string): string | null {
  if (key === "" || key.length > SECRET_KEY_MAX)
    return `A key is 1 to ${SECRET_KEY_MAX} characters.`;
  if (!/^[A-Za-z0-9._-]+$/.test(key) || key === "." || key === "..")
    return "Letters, digits, '-', '_' and '.' only (and not '.' or '..').";
  return null;
}

const utf8 = new TextEncoder();
/** Bytes of keys and values, as the server counts them. */
export function secretBytes(rows: SecretRow[]): number {
  return rows.reduce((n, r) => n + utf8.encode(r.key).length + utf8.encode(r.value).length, 0);
}

/** Rows the user filled in: an entirely empty row is ignored. */
export function filledRows(rows: SecretRow[]): SecretRow[] {
  return rows.filter((r) => r.key !== "" || r.value !== "");
}

/**
 * Errors keyed `name`, a row's id (its key), the row's id + `.value` (its
 * value) and `data` (the secret as a whole); empty when the form can be sent.
 */
export type SecretFormErrors = Record<string, string>;

/**
 * Checks the form; returns the errors and, when there are none, the
 * `data` to send. Every filled row needs a key and a value (values are never
 * shown, so an empty one is almost always a value not entered again).
 */
export function checkSecretForm(
  name: string,
  rows: SecretRow[],
  { checkName = true }: { checkName?: boolean } = {},
): { errors: SecretFormErrors; data: Record<string, string> | null } {
  const errors: SecretFormErrors = {};
  if (checkName) {
    const nameError = validateSecretName(name);
    if (nameError) errors.name = nameError;
  }
  const filled = filledRows(rows);
  const seen = new Set<string>();
  for (const r of filled) {
    const keyError = validateSecretKey(r.key);
    if (keyError) errors[r.id] = keyError;
    else if (seen.has(r.key)) errors[r.id] = `Key ${JSON.stringify(r.key)} is already used above.`;
    if (r.value === "") errors[`${r.id}.value`] = "Enter the value.";
    else if (r.value.includes("\0"))
      errors[`${r.id}.value`] = "The value must not contain NUL characters.";
    seen.add(r.key);
  }
  if (filled.length === 0) errors.data = "Add at least one key and its value.";
  else if (filled.length > MAX_SECRET_KEYS)
    errors.data = `At most ${MAX_SECRET_KEYS} keys are allowed.`;
  else if (secretBytes(filled) > MAX_SECRET_BYTES)
    errors.data = `Keys and values must total at most ${MAX_SECRET_BYTES} bytes (64 KiB).`;
  if (Object.keys(errors).length > 0) return { errors, data: null };
  const data: Record<string, string> = {};
  for (const r of filled) data[r.key] = r.value;
  return { errors, data };
}

/**
 * Where the server's refusal lands on the form, keyed as `checkSecretForm`
 * keys its errors: `name` → the name field, `data.KEY` → that row's key
 * (the key named in the message when no row has it), `data` (count, size, a
 * body it could not read) → under the rows. Null for anything else (a banner).
 */
export function secretServerErrors(
  field: string | undefined,
  message: string,
  rows: SecretRow[],
): SecretFormErrors | null {
  if (!field) return null;
  if (field === "name") return { name: message };
  if (field === "data") return { data: message };
  if (field.startsWith("data.")) {
    const key = field.slice("data.".length);
    const row = filledRows(rows).find((r) => r.key === key);
    return row ? { [row.id]: message } : { data: `${key}: ${message}` };
  }
  return null;
}

/** A size in bytes as people read it: 512 B, 1.5 KiB, 64 KiB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const kib = n / 1024;
  return `${kib < 10 ? kib.toFixed(1).replace(/\.0$/, "") : Math.round(kib)} KiB`;
}
