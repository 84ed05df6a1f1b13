import { useId, useState, type FormEvent } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { ApiError } from "../api/client";
import { queryKeys } from "../api/queries";
import type { FunctionObject, ReplaceFunctionRequest, ScheduleStatus } from "../api/types";
import { useApi } from "../auth/useAuth";
import { Button, Card, ErrorBanner, TextField } from "../components/ui";
import { inputClass } from "../components/styles";
import { formatAge, formatDateTime, formatUntil } from "../lib/time";
import { fieldId } from "./fieldIds";
import { replaceRequestFromSpec } from "./replaceRequest";
import {
  MAX_SCHEDULES,
  newScheduleRow,
  rowErrorKey,
  scheduleErrorKey,
  validateSchedules,
  type ScheduleField,
  type ScheduleRow,
} from "./schedules";
import {
  MAX_ATTEMPTS_MAX,
  MAX_ATTEMPTS_MIN,
  validateMaxAttempts,
  type FieldErrors,
} from "./validation";

const RETRY_FIELD = "retry.maxAttempts";

/** IANA zones the browser knows, offered as suggestions (the server has the final word). */
function timeZones(): string[] {
  try {
    return Intl.supportedValuesOf?.("timeZone") ?? [];
  } catch {
    return [];
  }
}

/** The DOM id of a row's input. */
function inputId(rowId: string, field: ScheduleField): string {
  return `${rowId}-${field}`;
}

/** Server/client paths → the keys the editor shows errors under. */
function toDisplay(rows: ScheduleRow[], errors: FieldErrors): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [path, message] of Object.entries(errors)) {
    const key =
      path === RETRY_FIELD || path === "retry" ? RETRY_FIELD : scheduleErrorKey(rows, path);
    if (key) out[key] ??= message;
    else out._form ??= message;
  }
  return out;
}

/** Focuses the input of the first error, in the order the form shows them. */
function focusFirst(rows: ScheduleRow[], shown: Record<string, string>) {
  const order: string[] = rows.flatMap((r) =>
    (["name", "cron", "timeZone", "body"] as const).map((f) => rowErrorKey(r.id, f)),
  );
  order.push(RETRY_FIELD);
  const first = order.find((k) => shown[k]);
  if (!first) return;
  // a row's error key is `<row id>.<field>`, its input's id `<row id>-<field>`
  const id = first === RETRY_FIELD ? fieldId(RETRY_FIELD) : first.replace(".", "-");
  setTimeout(() => document.getElementById(id)?.focus(), 0);
}

function ScheduleInput({
  row,
  field,
  label,
  hint,
  error,
  disabled,
  list,
  placeholder,
  onChange,
}: {
  row: ScheduleRow;
  field: "name" | "cron" | "timeZone";
  label: string;
  hint?: string;
  error: string | undefined;
  disabled: boolean;
  list?: string;
  placeholder?: string;
  onChange: (value: string) => void;
}) {
  return (
    <TextField
      id={inputId(row.id, field)}
      label={label}
      hint={hint}
      error={error}
      disabled={disabled}
      list={list}
      placeholder={placeholder}
      spellCheck={false}
      autoCapitalize="none"
      autoComplete="off"
      value={row[field]}
      onChange={(e) => onChange(e.target.value)}
    />
  );
}

/**
 * Edits the function's schedules and its retries with a PUT of its whole
 * spec (PATCH takes only replicas, image and env).
 */
function SchedulesForm({ fn, onDone }: { fn: FunctionObject; onDone: () => void }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const ids = useId();
  const zonesId = `${ids}-zones`;
  const [zones] = useState(timeZones);
  const [rows, setRows] = useState<ScheduleRow[]>(() =>
    (fn.spec.schedules ?? []).map((s) => newScheduleRow(s)),
  );
  const [attempts, setAttempts] = useState(
    fn.spec.retry?.maxAttempts != null ? String(fn.spec.retry.maxAttempts) : "",
  );
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [onField, setOnField] = useState(false);

  const save = useMutation({
    mutationFn: (req: ReplaceFunctionRequest) => api.replaceFunction(fn.name, req),
    onSuccess: (f) => {
      queryClient.setQueryData(queryKeys.function(f.name), f);
      void queryClient.invalidateQueries({ queryKey: queryKeys.functions() });
      onDone();
    },
    onError: (e) => {
      if (!(e instanceof ApiError) || !e.field) return;
      const shown = toDisplay(rows, { [e.field]: e.fieldMessage });
      if (shown._form) return;
      setErrors(shown);
      setOnField(true);
      focusFirst(rows, shown);
    },
  });

  const update = (id: string, patch: Partial<ScheduleRow>) =>
    setRows((rs) => rs.map((r) => (r.id === id ? { ...r, ...patch } : r)));

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    setOnField(false);
    save.reset();
    const found: FieldErrors = {};
    const schedules = validateSchedules(rows, found);
    const retry = validateMaxAttempts(attempts);
    if ("error" in retry) found[RETRY_FIELD] = retry.error;
    const shown = toDisplay(rows, found);
    setErrors(shown);
    if (Object.keys(shown).length > 0 || "error" in retry) {
      focusFirst(rows, shown);
      return;
    }
    // the current spec with the new schedules and retries
    const req = replaceRequestFromSpec(fn.spec);
    delete req.schedules;
    delete req.retry;
    if (schedules.length > 0) req.schedules = schedules;
    if (retry.value !== undefined) req.retry = { maxAttempts: retry.value };
    save.mutate(req);
  }

  const busy = save.isPending;
  return (
    <form onSubmit={onSubmit} noValidate className="space-y-5" aria-label="Edit schedules">
      {zones.length > 0 && (
        <datalist id={zonesId}>
          {zones.map((z) => (
            <option key={z} value={z} />
          ))}
        </datalist>
      )}
      {rows.length === 0 && (
        <p className="text-sm text-slate-500">
          No schedules. Add one to call {fn.name} on a cron schedule.
        </p>
      )}
      <ul className="space-y-4">
        {rows.map((row, i) => {
          const err = (f: ScheduleField) => errors[rowErrorKey(row.id, f)];
          const bodyId = inputId(row.id, "body");
          const bodyErr = err("body");
          return (
            <li key={row.id}>
              <fieldset className="rounded-md border border-slate-200 p-3 sm:p-4">
                <legend className="px-1 text-sm font-medium text-slate-700">
                  Schedule {i + 1}
                </legend>
                <div className="grid gap-3 sm:grid-cols-2">
                  <ScheduleInput
                    row={row}
                    field="name"
                    label="Name"
                    placeholder="nightly"
                    hint="Lowercase letters, digits and '-'"
                    error={err("name")}
                    disabled={busy}
                    onChange={(v) => update(row.id, { name: v })}
                  />
                  <ScheduleInput
                    row={row}
                    field="cron"
                    label="Cron"
                    placeholder="0 3 * * *"
                    hint="minute hour day-of-month month day-of-week (seconds first for 6 fields)"
                    error={err("cron")}
                    disabled={busy}
                    onChange={(v) => update(row.id, { cron: v })}
                  />
                  <ScheduleInput
                    row={row}
                    field="timeZone"
                    label="Time zone"
                    placeholder="UTC"
                    hint="An IANA name such as Europe/Paris; blank for UTC"
                    error={err("timeZone")}
                    disabled={busy}
                    list={zones.length > 0 ? zonesId : undefined}
                    onChange={(v) => update(row.id, { timeZone: v })}
                  />
                  <div className="sm:col-span-2">
                    <label htmlFor={bodyId} className="block text-sm font-medium text-slate-700">
                      Body <span className="font-normal text-slate-500">(optional)</span>
                    </label>
                    <textarea
                      id={bodyId}
                      rows={2}
                      spellCheck={false}
                      className={`${inputClass} mt-1 font-mono`}
                      placeholder='{"report": true}'
                      disabled={busy}
                      aria-invalid={bodyErr ? true : undefined}
                      aria-describedby={bodyErr ? `${bodyId}-error` : `${bodyId}-hint`}
                      value={row.body}
                      onChange={(e) => update(row.id, { body: e.target.value })}
                    />
                    {bodyErr ? (
                      <p id={`${bodyId}-error`} className="mt-1 text-xs font-medium text-red-600">
                        {bodyErr}
                      </p>
                    ) : (
                      <p id={`${bodyId}-hint`} className="mt-1 text-xs text-slate-500">
                        Each run POSTs it to the function&apos;s root path, as application/json when
                        it is JSON.
                      </p>
                    )}
                  </div>
                </div>
                <div className="mt-3 flex justify-end">
                  <Button
                    variant="ghost"
                    disabled={busy}
                    onClick={() => setRows((rs) => rs.filter((r) => r.id !== row.id))}
                  >
                    Remove<span className="sr-only"> schedule {row.name.trim() || i + 1}</span>
                  </Button>
                </div>
              </fieldset>
            </li>
          );
        })}
      </ul>
      {errors.schedules && (
        <p className="text-xs font-medium text-red-600" role="alert">
          {errors.schedules}
        </p>
      )}
      <Button
        disabled={busy || rows.length >= MAX_SCHEDULES}
        onClick={() => {
          const row = newScheduleRow();
          setRows((rs) => [...rs, row]);
          setTimeout(() => document.getElementById(inputId(row.id, "name"))?.focus(), 0);
        }}
      >
        Add schedule
      </Button>
      {rows.length >= MAX_SCHEDULES && (
        <p className="text-xs text-slate-500">A function may have at most {MAX_SCHEDULES}.</p>
      )}
      <TextField
        id={fieldId(RETRY_FIELD)}
        label="Attempts per invocation"
        inputMode="numeric"
        placeholder="platform default"
        hint={`${MAX_ATTEMPTS_MIN} to ${MAX_ATTEMPTS_MAX}: how often an asynchronous invocation (a scheduled run too) is tried before it is dead. Blank: the platform's default.`}
        value={attempts}
        error={errors[RETRY_FIELD]}
        disabled={busy}
        onChange={(e) => setAttempts(e.target.value)}
      />
      {save.isError && !onField && <ErrorBanner title="Could not save" error={save.error} />}
      <div className="flex flex-wrap justify-end gap-2">
        <Button onClick={onDone} disabled={busy}>
          Cancel
        </Button>
        <Button type="submit" variant="primary" disabled={busy}>
          {busy ? "Saving…" : "Save schedules"}
        </Button>
      </div>
    </form>
  );
}

function RunTimes({ status }: { status: ScheduleStatus | undefined }) {
  const next = status?.nextRunTime;
  const last = status?.lastRunTime;
  return (
    <dl className="mt-1 grid grid-cols-[max-content_1fr] gap-x-3 gap-y-0.5 text-sm">
      <dt className="text-slate-500">Next run</dt>
      <dd data-testid="schedule-next-run">
        {next ? (
          <>
            <time dateTime={next}>{formatDateTime(next)}</time>{" "}
            <span className="text-slate-500">(in {formatUntil(next)})</span>
          </>
        ) : status ? (
          <span className="text-slate-500">None: the expression does not fire again</span>
        ) : (
          <span className="text-slate-500">—</span>
        )}
      </dd>
      <dt className="text-slate-500">Last run</dt>
      <dd data-testid="schedule-last-run">
        {last ? (
          <>
            <time dateTime={last}>{formatDateTime(last)}</time>{" "}
            <span className="text-slate-500">({formatAge(last)} ago)</span>
          </>
        ) : (
          <span className="text-slate-500">Not yet</span>
        )}
      </dd>
    </dl>
  );
}

/**
 * The function's cron triggers with their next and last runs (from
 * `status.schedules`), and the attempts its asynchronous invocations get;
 * "Edit schedules" opens the editor.
 */
export function SchedulesCard({ fn }: { fn: FunctionObject }) {
  const [editing, setEditing] = useState(false);
  const schedules = fn.spec.schedules ?? [];
  const statuses = fn.status.schedules ?? [];
  const maxAttempts = fn.spec.retry?.maxAttempts;
  return (
    <Card
      title="Schedules"
      actions={!editing && <Button onClick={() => setEditing(true)}>Edit schedules</Button>}
    >
      {editing ? (
        <SchedulesForm fn={fn} onDone={() => setEditing(false)} />
      ) : (
        <div className="space-y-4">
          {schedules.length === 0 ? (
            <p className="text-sm text-slate-500" data-testid="schedules-empty">
              No schedules. Add one to call {fn.name} on a cron schedule: each run is an
              asynchronous invocation (a POST to its root path) that shows under Invocations, and
              its next and last run show here.
            </p>
          ) : (
            <ul className="divide-y divide-slate-100">
              {schedules.map((s) => (
                <li
                  key={s.name}
                  className="py-3 first:pt-0 last:pb-0"
                  data-testid={`schedule-${s.name}`}
                >
                  <div className="flex flex-wrap items-baseline gap-x-3 gap-y-1">
                    <span className="font-mono text-sm font-medium text-slate-900">{s.name}</span>
                    <code className="rounded bg-slate-100 px-1.5 py-0.5 font-mono text-xs text-slate-800">
                      {s.cron}
                    </code>
                    <span className="text-xs text-slate-500">{s.timeZone ?? "UTC"}</span>
                  </div>
                  {s.body && (
                    <p className="mt-1 truncate font-mono text-xs text-slate-600" title={s.body}>
                      Body: {s.body}
                    </p>
                  )}
                  <RunTimes status={statuses.find((st) => st.name === s.name)} />
                </li>
              ))}
            </ul>
          )}
          <p className="text-sm text-slate-600" data-testid="retry-summary">
            Attempts per asynchronous invocation:{" "}
            {maxAttempts != null ? (
              <span className="font-medium text-slate-900">{maxAttempts}</span>
            ) : (
              "the platform's default"
            )}
            .
          </p>
        </div>
      )}
    </Card>
  );
}
