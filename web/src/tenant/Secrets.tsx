import { useRef, useState, type FormEvent } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { ApiError } from "../api/client";
import { forgetSecret, putSecret, queryKeys, useSecret, useSecrets } from "../api/queries";
import type { Secret } from "../api/types";
import { useApi } from "../auth/useAuth";
import { Dialog } from "../components/Dialog";
import { Button, Card, ErrorBanner, Notice, Spinner, TextField } from "../components/ui";
import { inputClass } from "../components/styles";
import { formatAge, formatDateTime } from "../lib/time";
import {
  checkSecretForm,
  filledRows,
  formatBytes,
  MAX_SECRET_BYTES,
  MAX_SECRET_KEYS,
  MAX_SECRETS,
  newSecretRow,
  SECRET_FILES_DIR,
  SECRET_NAME_MAX,
  secretBytes,
  secretServerErrors,
  type SecretFormErrors,
  type SecretRow,
} from "./secret";

const NAME_ID = "secret-name";
const DATA_ERROR_ID = "secret-data-error";

/** The keys of a secret as small chips. */
function KeyChips({ secret }: { secret: Secret }) {
  return (
    <ul aria-label={`Keys of ${secret.name}`} className="flex flex-wrap gap-1">
      {secret.keys.map((k) => (
        <li
          key={k}
          className="rounded bg-slate-100 px-1.5 py-0.5 font-mono text-xs break-words text-slate-700"
        >
          {k}
        </li>
      ))}
    </ul>
  );
}

/** One key/value row; the value is hidden (a password field) unless shown. */
function SecretRowEditor({
  row,
  index,
  shown,
  errors,
  disabled,
  onChange,
  onToggle,
  onRemove,
}: {
  row: SecretRow;
  index: number;
  shown: boolean;
  errors: SecretFormErrors;
  disabled: boolean;
  onChange: (patch: Partial<SecretRow>) => void;
  onToggle: () => void;
  onRemove: () => void;
}) {
  const n = index + 1;
  const keyError = errors[row.id];
  const valueError = errors[`${row.id}.value`];
  const keyErrorId = `${row.id}-key-error`;
  const valueErrorId = `${row.id}-value-error`;
  const multiLine = row.value.includes("\n");
  const valueHintId = `${row.id}-value-hint`;
  const valueDescribedBy =
    [valueError ? valueErrorId : null, multiLine && !shown ? valueHintId : null]
      .filter(Boolean)
      .join(" ") || undefined;
  return (
    <li data-testid={`secret-row-${n}`}>
      <div className="grid grid-cols-[minmax(0,1fr)_auto_auto] gap-2 sm:grid-cols-[minmax(0,1fr)_minmax(0,1.5fr)_auto_auto]">
        <div>
          <label htmlFor={`${row.id}-key`} className="sr-only">
            Key {n}
          </label>
          <input
            id={`${row.id}-key`}
            className={`${inputClass} font-mono`}
            placeholder="KEY"
            autoComplete="off"
            autoCapitalize="none"
            spellCheck={false}
            value={row.key}
            disabled={disabled}
            aria-invalid={keyError ? true : undefined}
            aria-describedby={keyError ? keyErrorId : undefined}
            onChange={(e) => onChange({ key: e.target.value })}
          />
        </div>
        <div className="col-span-3 row-start-2 sm:col-span-1 sm:row-start-auto">
          <label htmlFor={`${row.id}-value`} className="sr-only">
            Value {n}
          </label>
          {shown ? (
            // shown: a text area, so a multi-line value (a certificate) keeps its lines
            <textarea
              id={`${row.id}-value`}
              rows={Math.min(8, Math.max(1, row.value.split("\n").length))}
              className={`${inputClass} font-mono`}
              autoComplete="off"
              autoCapitalize="none"
              spellCheck={false}
              value={row.value}
              disabled={disabled}
              aria-invalid={valueError ? true : undefined}
              aria-describedby={valueDescribedBy}
              onChange={(e) => onChange({ value: e.target.value })}
            />
          ) : (
            <input
              id={`${row.id}-value`}
              type="password"
              className={`${inputClass} font-mono`}
              placeholder="value"
              autoComplete="new-password"
              spellCheck={false}
              value={row.value}
              // a password field would drop the line breaks: edit those shown
              readOnly={multiLine}
              disabled={disabled}
              aria-invalid={valueError ? true : undefined}
              aria-describedby={valueDescribedBy}
              onChange={(e) => onChange({ value: e.target.value })}
            />
          )}
        </div>
        <Button
          variant="ghost"
          aria-label={`Show value ${n}`}
          aria-pressed={shown}
          aria-controls={`${row.id}-value`}
          disabled={disabled}
          onClick={onToggle}
          className="col-start-2 row-start-1 sm:col-start-auto sm:row-start-auto"
        >
          {shown ? "Hide" : "Show"}
        </Button>
        <Button
          variant="ghost"
          aria-label={`Remove key ${n}${row.key ? ` (${row.key})` : ""}`}
          disabled={disabled}
          onClick={onRemove}
          className="col-start-3 row-start-1 sm:col-start-auto sm:row-start-auto"
        >
          <span aria-hidden="true">✕</span>
        </Button>
      </div>
      {multiLine && !shown && !valueError && (
        <p id={valueHintId} className="mt-1 text-xs text-slate-500">
          A value of {row.value.split("\n").length} lines: show it to edit it.
        </p>
      )}
      {keyError && (
        <p id={keyErrorId} className="mt-1 text-xs font-medium text-red-600">
          {keyError}
        </p>
      )}
      {valueError && (
        <p id={valueErrorId} className="mt-1 text-xs font-medium text-red-600">
          {valueError}
        </p>
      )}
    </li>
  );
}

/** Asks before deleting, says which functions read the secret, and shows the server's 409. */
function DeleteSecretDialog({
  secret,
  onClose,
  onDeleted,
}: {
  secret: Secret;
  onClose: () => void;
  onDeleted: (name: string) => void;
}) {
  const api = useApi();
  const queryClient = useQueryClient();
  const detail = useSecret(secret.name);
  const del = useMutation({
    mutationFn: () => api.deleteSecret(secret.name),
    onSuccess: () => {
      forgetSecret(queryClient, secret.name);
      onDeleted(secret.name);
    },
    onError: () => {
      // the list (and who reads it) may have moved on
      void queryClient.invalidateQueries({ queryKey: queryKeys.secrets() });
    },
  });
  const usedBy = detail.data?.usedBy ?? [];
  return (
    <Dialog
      title={`Delete secret ${secret.name}?`}
      description="Its keys and values are removed for good. A secret that functions read cannot be deleted: take it out of their secret references first."
      onClose={() => !del.isPending && onClose()}
    >
      {usedBy.length > 0 && (
        <p className="mb-3 text-sm text-slate-700" data-testid="secret-used-by">
          Read by {usedBy.length === 1 ? "function" : "functions"}{" "}
          <span className="font-mono">{usedBy.join(", ")}</span>.
        </p>
      )}
      {del.isError && (
        <div className="mb-3">
          <ErrorBanner title="Could not delete the secret" error={del.error} />
        </div>
      )}
      <div className="flex flex-wrap justify-end gap-2">
        <Button data-autofocus onClick={onClose} disabled={del.isPending}>
          Cancel
        </Button>
        <Button variant="danger" onClick={() => del.mutate()} disabled={del.isPending}>
          {del.isPending ? "Deleting…" : "Delete secret"}
        </Button>
      </div>
    </Dialog>
  );
}

/**
 * The tenant's secrets: keys and values its functions read as environment
 * variables (`secretEnv`) or files (`secretFiles`). Values are write-only:
 * they live in this form's state until saved, go out in the PUT body, and
 * are never shown, cached or returned.
 */
export function Secrets() {
  const api = useApi();
  const queryClient = useQueryClient();
  const list = useSecrets();
  // null: a new secret; else the one being replaced (its name stays)
  const [replacing, setReplacing] = useState<Secret | null>(null);
  const [name, setName] = useState("");
  const [rows, setRows] = useState<SecretRow[]>(() => [newSecretRow()]);
  const [shown, setShown] = useState<ReadonlySet<string>>(new Set());
  const [errors, setErrors] = useState<SecretFormErrors>({});
  const [status, setStatus] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<Secret | null>(null);
  // The data to send, handed to the mutation outside its variables so the
  // values never enter TanStack Query's caches (not even the mutation's).
  const outgoing = useRef<Record<string, string> | null>(null);

  function reset(to: Secret | null) {
    setReplacing(to);
    setName(to ? to.name : "");
    setRows(to ? to.keys.map((k) => newSecretRow(k)) : [newSecretRow()]);
    setShown(new Set());
    setErrors({});
  }

  const save = useMutation({
    mutationFn: (target: string) => {
      const data = outgoing.current;
      outgoing.current = null;
      if (!data) return Promise.reject(new Error("Nothing to save."));
      return api.putSecret(target, { data });
    },
    gcTime: 0,
    onSuccess: (s) => {
      putSecret(queryClient, s);
      reset(null);
      const keys = `${s.keys.length} ${s.keys.length === 1 ? "key" : "keys"}`;
      setStatus(
        s.version === 1
          ? `Secret ${s.name} created with ${keys}.`
          : `Secret ${s.name} replaced (version ${s.version}, ${keys}). Functions that read it restart with the new values.`,
      );
    },
    onError: (e: unknown) => {
      const onField =
        e instanceof ApiError ? secretServerErrors(e.field, e.fieldMessage, rows) : null;
      setErrors(onField ?? { _form: e instanceof Error ? e.message : String(e) });
      if (onField) focusFirst(onField);
    },
  });

  function focusFirst(found: SecretFormErrors) {
    let id: string | undefined;
    if (found.name) id = NAME_ID;
    else {
      for (const r of rows) {
        if (found[r.id]) id = `${r.id}-key`;
        else if (found[`${r.id}.value`]) id = `${r.id}-value`;
        if (id) break;
      }
    }
    if (!id && found.data) id = rows[0] ? `${rows[0].id}-key` : "secret-add-key";
    // after React has rendered the error state
    if (id) setTimeout(() => document.getElementById(id)?.focus(), 0);
  }

  function submit(e: FormEvent) {
    e.preventDefault();
    setStatus(null);
    save.reset();
    const target = replacing ? replacing.name : name.trim();
    const { errors: found, data } = checkSecretForm(target, rows, { checkName: !replacing });
    setErrors(found);
    if (!data) {
      focusFirst(found);
      return;
    }
    outgoing.current = data;
    save.mutate(target);
  }

  function startReplace(s: Secret) {
    save.reset();
    setStatus(null);
    reset(s);
    setTimeout(() => {
      const first = document.querySelector<HTMLElement>("#secret-form input[type=password]");
      first?.focus();
    }, 0);
  }

  const updateRow = (id: string, patch: Partial<SecretRow>) =>
    setRows((rs) => rs.map((r) => (r.id === id ? { ...r, ...patch } : r)));
  const toggle = (id: string) =>
    setShown((s) => {
      const next = new Set(s);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  const items = list.data?.items ?? [];
  const busy = save.isPending;
  const filled = filledRows(rows);
  const bytes = secretBytes(filled);

  return (
    <Card title="Secrets" className="lg:col-span-3">
      <p className="text-sm text-slate-600">
        Passwords, tokens and certificates for your functions. A function reads a key as an
        environment variable, or mounts the whole secret as files. Values are write-only: once saved
        they are never shown again, here or by the API.
      </p>
      {list.isPending && <Spinner label="Loading secrets…" />}
      {list.isError && (
        <ErrorBanner
          title="Could not load the secrets"
          error={list.error}
          onRetry={() => void list.refetch()}
        />
      )}
      {list.data && items.length === 0 && (
        <div className="mt-3 text-sm text-slate-600" data-testid="secrets-empty">
          <p className="font-medium text-slate-800">No secrets yet.</p>
          <p className="mt-1">
            Create one below with a key and value for each setting. Then, on a function, set an
            environment variable from one of its keys, or mount it: each key becomes a read-only
            file at <code className="font-mono text-xs break-all">{SECRET_FILES_DIR}/NAME/KEY</code>
            . Changing a secret restarts the functions that read it.
          </p>
        </div>
      )}
      {items.length > 0 && (
        <div className="relative -mx-4 mt-3 overflow-x-auto sm:mx-0">
          <table className="min-w-full text-left text-sm">
            <caption className="sr-only">Secrets</caption>
            <thead className="text-xs uppercase text-slate-500">
              <tr>
                <th scope="col" className="px-4 py-1 font-medium sm:pl-0">
                  Name
                </th>
                <th scope="col" className="px-4 py-1 font-medium">
                  Keys
                </th>
                <th scope="col" className="px-4 py-1 font-medium">
                  Size
                </th>
                <th scope="col" className="px-4 py-1 font-medium">
                  Version
                </th>
                <th scope="col" className="px-4 py-1 font-medium">
                  Updated
                </th>
                <th scope="col" className="px-4 py-1 sm:pr-0">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((s) => (
                <tr
                  key={s.name}
                  className="border-t border-slate-100"
                  data-testid={`secret-${s.name}`}
                >
                  <td className="px-4 py-2 font-mono whitespace-nowrap sm:pl-0">{s.name}</td>
                  <td className="min-w-40 px-4 py-2">
                    <KeyChips secret={s} />
                  </td>
                  <td className="px-4 py-2 whitespace-nowrap tabular-nums">
                    {formatBytes(s.sizeBytes)}
                  </td>
                  <td className="px-4 py-2 tabular-nums">{s.version}</td>
                  <td className="px-4 py-2 whitespace-nowrap text-slate-500">
                    <time dateTime={s.updatedAt} title={formatDateTime(s.updatedAt)}>
                      {formatAge(s.updatedAt)} ago
                    </time>
                  </td>
                  <td className="px-4 py-2 sm:pr-0">
                    <div className="flex justify-end gap-2">
                      <Button
                        aria-label={`Replace secret ${s.name}`}
                        disabled={busy}
                        onClick={() => startReplace(s)}
                      >
                        Replace
                      </Button>
                      <Button
                        variant="danger"
                        aria-label={`Delete secret ${s.name}`}
                        onClick={() => setDeleting(s)}
                      >
                        Delete
                      </Button>
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <p className="mt-2 px-4 text-xs text-slate-500 sm:px-0">
            {items.length} of {MAX_SECRETS} secrets.
            {items.length >= MAX_SECRETS && " Delete one to create another."}
          </p>
        </div>
      )}
      {deleting && (
        <DeleteSecretDialog
          secret={deleting}
          onClose={() => setDeleting(null)}
          onDeleted={(n) => {
            setDeleting(null);
            if (replacing?.name === n) reset(null);
            setStatus(`Secret ${n} deleted.`);
            setTimeout(() => document.getElementById(NAME_ID)?.focus(), 0);
          }}
        />
      )}

      <form
        id="secret-form"
        onSubmit={submit}
        noValidate
        aria-labelledby="secret-form-title"
        className="mt-5 space-y-4 border-t border-slate-100 pt-4"
      >
        <h3 id="secret-form-title" className="text-sm font-semibold text-slate-900">
          {replacing ? `Replace secret ${replacing.name}` : "New secret"}
        </h3>
        {replacing && (
          <Notice tone="warn">
            Values are never shown, so enter every value again. The secret is replaced whole: a key
            you remove here is dropped. Functions that read it restart with the new values.
          </Notice>
        )}
        <TextField
          id={NAME_ID}
          label="Name"
          className="max-w-sm"
          value={name}
          onChange={(e) => setName(e.target.value)}
          readOnly={replacing !== null}
          error={errors.name}
          hint={
            replacing
              ? "A replacement keeps the name."
              : `Lowercase letters, digits and '-', up to ${SECRET_NAME_MAX} characters.`
          }
          placeholder="db"
          autoComplete="off"
          autoCapitalize="none"
          spellCheck={false}
          disabled={busy}
        />
        <fieldset>
          <legend className="text-sm font-medium text-slate-700">Keys and values</legend>
          <p className="mt-1 text-xs text-slate-500">
            Keys: letters, digits, &apos;-&apos;, &apos;_&apos; and &apos;.&apos;. Up to{" "}
            {MAX_SECRET_KEYS} keys and {formatBytes(MAX_SECRET_BYTES)} in all; now {filled.length}{" "}
            {filled.length === 1 ? "key" : "keys"}, {formatBytes(bytes)}.
          </p>
          <ul className="mt-2 space-y-3">
            {rows.map((row, i) => (
              <SecretRowEditor
                key={row.id}
                row={row}
                index={i}
                shown={shown.has(row.id)}
                errors={errors}
                disabled={busy}
                onChange={(patch) => updateRow(row.id, patch)}
                onToggle={() => toggle(row.id)}
                onRemove={() => setRows((rs) => rs.filter((r) => r.id !== row.id))}
              />
            ))}
          </ul>
          {errors.data && (
            <p id={DATA_ERROR_ID} className="mt-2 text-xs font-medium text-red-600">
              {errors.data}
            </p>
          )}
          <Button
            id="secret-add-key"
            className="mt-3"
            disabled={busy || rows.length >= MAX_SECRET_KEYS}
            onClick={() => setRows((rs) => [...rs, newSecretRow()])}
          >
            Add key
          </Button>
        </fieldset>
        {errors._form && <ErrorBanner title="Could not save the secret" error={errors._form} />}
        <div className="flex flex-wrap justify-end gap-2">
          {replacing && (
            <Button disabled={busy} onClick={() => reset(null)}>
              Cancel
            </Button>
          )}
          <Button type="submit" variant="primary" disabled={busy}>
            {busy ? "Saving…" : replacing ? "Replace secret" : "Create secret"}
          </Button>
        </div>
      </form>
      {status && (
        <p role="status" className="mt-2 text-sm text-emerald-700">
          {status}
        </p>
      )}
    </Card>
  );
}
