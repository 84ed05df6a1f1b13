import { resolveFormField } from "./fieldIds";
import {
  envRowIdForField,
  secretEnvKeyForField,
  secretFileKey,
  type FieldErrors,
  type FunctionFormValues,
} from "./validation";

/** Section-level keys: a field path that names a whole list, shown under it. */
const LIST_KEYS = ["env", "secretEnv", "secretFiles"];

/**
 * Turns server/client field paths into display keys: env rows by row id,
 * secret variables by `{rowId}.{name|secret|key}`, mounted secrets by
 * `secretFileKey(name)`, others resolved (`_form` when nothing matches).
 */
export function displayErrors(
  values: FunctionFormValues,
  errors: FieldErrors,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [path, message] of Object.entries(errors)) {
    if (path.startsWith("env[")) {
      const rowId = envRowIdForField(values.env, path);
      if (rowId) {
        out[rowId] ??= message;
        continue;
      }
    }
    if (path.startsWith("secretEnv[")) {
      out[secretEnvKeyForField(values.secretEnv, path) ?? "secretEnv"] ??= message;
      continue;
    }
    const file = /^secretFiles\[(\d+)\]/.exec(path);
    if (file) {
      const name = values.secretFiles[Number(file[1])];
      out[name === undefined ? "secretFiles" : secretFileKey(name)] ??= message;
      continue;
    }
    const key = resolveFormField(path) ?? (LIST_KEYS.includes(path) ? path : "_form");
    out[key] ??= message;
  }
  return out;
}
