import { Button } from "../components/ui";
import { inputClass } from "../components/styles";
import { newEnvRow, type EnvRow } from "./validation";

/** Editable list of environment variables; errors are keyed by row id. */
export function EnvEditor({
  rows,
  onChange,
  errors,
  disabled,
  legendHidden = false,
}: {
  rows: EnvRow[];
  onChange: (rows: EnvRow[]) => void;
  errors: Record<string, string>;
  disabled?: boolean;
  /** Hide the legend visually when a heading right above already says it. */
  legendHidden?: boolean;
}) {
  const update = (id: string, patch: Partial<EnvRow>) =>
    onChange(rows.map((r) => (r.id === id ? { ...r, ...patch } : r)));
  return (
    <fieldset>
      <legend className={legendHidden ? "sr-only" : "text-sm font-medium text-slate-700"}>
        Environment variables
      </legend>
      {rows.length === 0 && (
        <p className="mt-1 text-sm text-slate-500">
          No variables. Add one to pass settings to your function.
        </p>
      )}
      <ul className="mt-2 space-y-3">
        {rows.map((row, i) => {
          const err = errors[row.id];
          const errId = `${row.id}-error`;
          return (
            <li key={row.id}>
              <div className="grid grid-cols-[1fr_auto] gap-2 sm:grid-cols-[minmax(0,1fr)_minmax(0,1.5fr)_auto]">
                <div>
                  <label htmlFor={`${row.id}-name`} className="sr-only">
                    Variable {i + 1} name
                  </label>
                  <input
                    id={`${row.id}-name`}
                    className={`${inputClass} font-mono`}
                    placeholder="NAME"
                    autoComplete="off"
                    spellCheck={false}
                    value={row.name}
                    disabled={disabled}
                    aria-invalid={err ? true : undefined}
                    aria-describedby={err ? errId : undefined}
                    onChange={(e) => update(row.id, { name: e.target.value })}
                  />
                </div>
                <div className="col-span-2 row-start-2 sm:col-span-1 sm:row-start-auto">
                  <label htmlFor={`${row.id}-value`} className="sr-only">
                    Variable {i + 1} value
                  </label>
                  <input
                    id={`${row.id}-value`}
                    className={`${inputClass} font-mono`}
                    placeholder="value"
                    autoComplete="off"
                    spellCheck={false}
                    value={row.value}
                    disabled={disabled}
                    onChange={(e) => update(row.id, { value: e.target.value })}
                  />
                </div>
                <Button
                  variant="ghost"
                  aria-label={`Remove variable ${i + 1}${row.name ? ` (${row.name})` : ""}`}
                  disabled={disabled}
                  onClick={() => onChange(rows.filter((r) => r.id !== row.id))}
                  className="col-start-2 row-start-1 sm:col-start-auto sm:row-start-auto"
                >
                  <span aria-hidden="true">✕</span>
                </Button>
              </div>
              {err && (
                <p id={errId} className="mt-1 text-xs font-medium text-red-600">
                  {err}
                </p>
              )}
            </li>
          );
        })}
      </ul>
      <Button className="mt-3" disabled={disabled} onClick={() => onChange([...rows, newEnvRow()])}>
        Add variable
      </Button>
    </fieldset>
  );
}
