import { resolveFormField } from "./fieldIds";
import { envRowIdForField, type FieldErrors, type FunctionFormValues } from "./validation";

/** Turns server/client field paths into display keys: env rows by row id, others resolved. */
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
    const key = resolveFormField(path) ?? (path === "env" ? "env" : "_form");
    out[key] ??= message;
  }
  return out;
}
