import { Link } from "react-router";
import { useSecrets } from "../api/queries";
import type { Secret } from "../api/types";
import { Button, ErrorBanner, Spinner } from "../components/ui";
import { inputClass } from "../components/styles";
import { SECRET_FILES_DIR } from "../tenant/secret";
import {
  secretEnvInputId,
  secretFileInputId,
  SECRET_ENV_SUBS,
  type SecretEnvSub,
} from "./secretRefs";
import { newSecretEnvRow, secretFileKey, type SecretEnvRow } from "./validation";

const selectClass = `${inputClass} font-mono`;

/**
 * The create form's secret references: variables set from a key of one of
 * the tenant's secrets (`secretEnv`), picked from its list, and secrets
 * mounted as files (`secretFiles`). Errors are keyed `{rowId}.{name|secret|key}`,
 * `secretFileKey(name)`, `secretEnv` and `secretFiles`.
 */
export function SecretRefsEditor({
  rows,
  files,
  onRowsChange,
  onFilesChange,
  errors,
  disabled,
}: {
  rows: SecretEnvRow[];
  files: string[];
  onRowsChange: (rows: SecretEnvRow[]) => void;
  onFilesChange: (files: string[]) => void;
  errors: Record<string, string>;
  disabled?: boolean;
}) {
  const list = useSecrets();
  const secrets = list.data?.items ?? [];
  const byName = new Map(secrets.map((s) => [s.name, s]));

  const update = (id: string, patch: Partial<SecretEnvRow>) =>
    onRowsChange(rows.map((r) => (r.id === id ? { ...r, ...patch } : r)));
  /** A new secret keeps the key when it has one of that name, else takes its only key. */
  const pickSecret = (row: SecretEnvRow, name: string) => {
    const keys = byName.get(name)?.keys ?? [];
    const key = keys.includes(row.key) ? row.key : keys.length === 1 ? (keys[0] ?? "") : "";
    update(row.id, { secret: name, key });
  };
  const toggleFile = (name: string, on: boolean) =>
    onFilesChange(
      on ? [...files.filter((f) => f !== name), name] : files.filter((f) => f !== name),
    );

  if (list.isPending) return <Spinner label="Loading secrets…" />;
  if (list.isError)
    return (
      <ErrorBanner
        title="Could not load your secrets"
        error={list.error}
        onRetry={() => void list.refetch()}
      />
    );

  // a picked secret that is no longer listed is still shown, so its error has a place
  const fileChoices = [...secrets.map((s) => s.name), ...files.filter((f) => !byName.has(f))];

  return (
    <>
      {secrets.length === 0 && rows.length === 0 && files.length === 0 && (
        <p className="text-sm text-slate-500" data-testid="secret-refs-none">
          Your tenant has no secrets yet.{" "}
          <Link to="/tenant" className="text-indigo-700 underline">
            Create one on the Tenant page
          </Link>
          , then come back to use it here.
        </p>
      )}
      <fieldset>
        <legend className="text-sm font-medium text-slate-700">
          Environment variables from secrets
        </legend>
        {rows.length === 0 && (
          <p className="mt-1 text-sm text-slate-500">
            None. Each one sets a variable to the value of one key of a secret.
          </p>
        )}
        <ul className="mt-2 space-y-3">
          {rows.map((row, i) => (
            <SecretEnvRowEditor
              key={row.id}
              row={row}
              n={i + 1}
              secrets={secrets}
              errors={errors}
              disabled={disabled}
              onName={(name) => update(row.id, { name })}
              onSecret={(name) => pickSecret(row, name)}
              onKey={(key) => update(row.id, { key })}
              onRemove={() => onRowsChange(rows.filter((r) => r.id !== row.id))}
            />
          ))}
        </ul>
        {errors.secretEnv && (
          <p className="mt-2 text-xs font-medium text-red-600">{errors.secretEnv}</p>
        )}
        <Button
          id="secret-env-add"
          className="mt-3"
          disabled={disabled || secrets.length === 0}
          onClick={() => onRowsChange([...rows, newSecretEnvRow()])}
        >
          Add secret variable
        </Button>
      </fieldset>

      <fieldset>
        <legend className="text-sm font-medium text-slate-700">Secrets mounted as files</legend>
        <p className="mt-1 text-sm text-slate-500">
          Each key of a mounted secret is a read-only file at{" "}
          <code className="font-mono text-xs break-all">{SECRET_FILES_DIR}/NAME/KEY</code>.
        </p>
        {fileChoices.length > 0 && (
          <ul className="mt-2 space-y-2">
            {fileChoices.map((name) => {
              const id = secretFileInputId(name);
              const err = errors[secretFileKey(name)];
              const known = byName.get(name);
              return (
                <li key={name}>
                  <label htmlFor={id} className="flex items-start gap-2 text-sm text-slate-700">
                    <input
                      id={id}
                      type="checkbox"
                      className="mt-0.5 h-4 w-4 rounded border-slate-300 text-indigo-600"
                      checked={files.includes(name)}
                      disabled={disabled}
                      aria-invalid={err ? true : undefined}
                      aria-describedby={`${id}-desc${err ? ` ${id}-error` : ""}`}
                      onChange={(e) => toggleFile(name, e.target.checked)}
                    />
                    <span>Mount {name}</span>
                  </label>
                  <p id={`${id}-desc`} className="ml-6 font-mono text-xs break-all text-slate-500">
                    {known
                      ? known.keys.map((k) => `${SECRET_FILES_DIR}/${name}/${k}`).join(", ")
                      : "not among your secrets"}
                  </p>
                  {err && (
                    <p id={`${id}-error`} className="ml-6 text-xs font-medium text-red-600">
                      {err}
                    </p>
                  )}
                </li>
              );
            })}
          </ul>
        )}
        {errors.secretFiles && (
          <p className="mt-2 text-xs font-medium text-red-600">{errors.secretFiles}</p>
        )}
      </fieldset>
    </>
  );
}

function SecretEnvRowEditor({
  row,
  n,
  secrets,
  errors,
  disabled,
  onName,
  onSecret,
  onKey,
  onRemove,
}: {
  row: SecretEnvRow;
  n: number;
  secrets: Secret[];
  errors: Record<string, string>;
  disabled?: boolean;
  onName: (v: string) => void;
  onSecret: (v: string) => void;
  onKey: (v: string) => void;
  onRemove: () => void;
}) {
  const err = (sub: SecretEnvSub) => errors[`${row.id}.${sub}`];
  const errId = (sub: SecretEnvSub) => `${secretEnvInputId(row.id, sub)}-error`;
  const a11y = (sub: SecretEnvSub) => ({
    id: secretEnvInputId(row.id, sub),
    "aria-invalid": err(sub) ? true : undefined,
    "aria-describedby": err(sub) ? errId(sub) : undefined,
  });
  const secret = secrets.find((s) => s.name === row.secret);
  const secretNames = secrets.map((s) => s.name);
  const keys = secret?.keys ?? [];
  return (
    <li data-testid={`secret-env-row-${n}`}>
      <div className="grid grid-cols-[minmax(0,1fr)_auto] gap-2 sm:grid-cols-[minmax(0,1fr)_minmax(0,1fr)_minmax(0,1fr)_auto]">
        <div>
          <label htmlFor={secretEnvInputId(row.id, "name")} className="sr-only">
            Secret variable {n} name
          </label>
          <input
            {...a11y("name")}
            className={`${inputClass} font-mono`}
            placeholder="NAME"
            autoComplete="off"
            autoCapitalize="none"
            spellCheck={false}
            value={row.name}
            disabled={disabled}
            onChange={(e) => onName(e.target.value)}
          />
        </div>
        <div className="col-span-2 row-start-2 sm:col-span-1 sm:row-start-auto">
          <label htmlFor={secretEnvInputId(row.id, "secret")} className="sr-only">
            Secret variable {n} secret
          </label>
          <select
            {...a11y("secret")}
            className={selectClass}
            value={row.secret}
            disabled={disabled}
            onChange={(e) => onSecret(e.target.value)}
          >
            <option value="">Choose a secret</option>
            {secretNames.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
            {row.secret && !secret && <option value={row.secret}>{row.secret} (not found)</option>}
          </select>
        </div>
        <div className="col-span-2 row-start-3 sm:col-span-1 sm:row-start-auto">
          <label htmlFor={secretEnvInputId(row.id, "key")} className="sr-only">
            Secret variable {n} key
          </label>
          <select
            {...a11y("key")}
            className={selectClass}
            value={row.key}
            disabled={disabled || row.secret === ""}
            onChange={(e) => onKey(e.target.value)}
          >
            <option value="">{row.secret ? "Choose a key" : "Choose a secret first"}</option>
            {keys.map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
            {row.key && !keys.includes(row.key) && (
              <option value={row.key}>{row.key} (not found)</option>
            )}
          </select>
        </div>
        <Button
          variant="ghost"
          aria-label={`Remove secret variable ${n}${row.name ? ` (${row.name})` : ""}`}
          disabled={disabled}
          onClick={onRemove}
          className="col-start-2 row-start-1 sm:col-start-auto sm:row-start-auto"
        >
          <span aria-hidden="true">✕</span>
        </Button>
      </div>
      {SECRET_ENV_SUBS.map(
        (sub) =>
          err(sub) && (
            <p key={sub} id={errId(sub)} className="mt-1 text-xs font-medium text-red-600">
              {err(sub)}
            </p>
          ),
      )}
    </li>
  );
}
