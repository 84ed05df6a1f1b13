import { useId, useRef, useState, type FormEvent, type ReactNode, type RefObject } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { ApiError } from "../api/client";
import { markInvokeKeyRevoked, putInvokeKey, useInvokeKeys } from "../api/queries";
import type { InvokeKey, NewInvokeKey } from "../api/types";
import { useApi } from "../auth/useAuth";
import { Dialog } from "../components/Dialog";
import { Button, Card, ErrorBanner, Spinner, TextField } from "../components/ui";
import { inputClass } from "../components/styles";
import { formatAge, formatDateTime, formatUntil } from "../lib/time";
import {
  curlExample,
  EXPIRY_CHOICES,
  expiresInSeconds,
  invokeKeyState,
  MAX_INVOKE_KEYS,
  validateKeyName,
} from "./invokeKeys";

type Field = "name" | "expiresInSeconds";

const STATE_STYLES: Record<ReturnType<typeof invokeKeyState>, string> = {
  active: "bg-emerald-50 text-emerald-800 ring-emerald-200",
  revoked: "bg-slate-100 text-slate-700 ring-slate-200",
  expired: "bg-amber-50 text-amber-800 ring-amber-200",
};

function KeyStateBadge({ k }: { k: InvokeKey }) {
  const state = invokeKeyState(k);
  return (
    <span
      className={`inline-flex rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${STATE_STYLES[state]}`}
      data-key-state={state}
    >
      {state}
    </span>
  );
}

function When({ iso, children }: { iso: string; children: ReactNode }) {
  return (
    <time dateTime={iso} title={formatDateTime(iso)}>
      {children}
    </time>
  );
}

/** Copies a text to the clipboard and says whether it could. */
function CopyButton({ text, what }: { text: string; what: string }) {
  const [result, setResult] = useState<string | null>(null);
  return (
    <span className="inline-flex flex-wrap items-center gap-2">
      <Button
        className="px-2.5 py-1 text-xs"
        onClick={() => {
          setResult(null);
          const copy = navigator.clipboard?.writeText(text);
          if (!copy) {
            setResult("Copying is not available here: select it and copy it yourself.");
            return;
          }
          copy.then(
            () => setResult("Copied."),
            () => setResult("Could not copy: select it and copy it yourself."),
          );
        }}
      >
        Copy<span className="sr-only"> {what}</span>
      </Button>
      <span role="status" className="text-xs text-slate-600">
        {result}
      </span>
    </span>
  );
}

/** The key just made, with the warning that it is not shown again, and how to use it. */
function NewKey({
  created,
  fnName,
  keyInput,
  onDone,
}: {
  created: NewInvokeKey;
  fnName: string;
  keyInput: RefObject<HTMLInputElement>;
  onDone: () => void;
}) {
  const ids = useId();
  const example = curlExample(window.location.origin, fnName, created.key);
  return (
    <section
      aria-labelledby={`${ids}-title`}
      className="space-y-3 rounded-md border border-amber-300 bg-amber-50 p-3 sm:p-4"
      data-testid="invoke-key-created"
    >
      <h3 id={`${ids}-title`} className="text-sm font-semibold text-slate-900">
        Key “{created.name}” created
      </h3>
      <p id={`${ids}-warning`} className="text-sm font-medium text-amber-900">
        Copy it now: it is shown only once. EventFlow keeps only a hash of it, so it cannot show it
        again; if it is lost, make a new one and revoke this one.
      </p>
      <div>
        <label htmlFor={`${ids}-key`} className="block text-sm font-medium text-slate-700">
          Invoke key
        </label>
        <input
          id={`${ids}-key`}
          ref={keyInput}
          readOnly
          value={created.key}
          className={`${inputClass} mt-1 font-mono`}
          aria-describedby={`${ids}-warning`}
          spellCheck={false}
          autoComplete="off"
          onFocus={(e) => e.currentTarget.select()}
        />
        <div className="mt-2">
          <CopyButton text={created.key} what="the key" />
        </div>
      </div>
      <div>
        <p className="text-sm text-slate-700">
          Send it as a bearer token to {fnName}&apos;s invoke route, for example:
        </p>
        {/* focusable so keyboard users can scroll it */}
        <pre
          tabIndex={0}
          aria-label="Example request with the key"
          className="mt-1 overflow-x-auto rounded-md bg-slate-900 p-3 font-mono text-xs leading-5 whitespace-pre-wrap break-all text-slate-100"
          data-testid="invoke-key-curl"
        >
          {example}
        </pre>
        <div className="mt-2">
          <CopyButton text={example} what="the example request" />
        </div>
      </div>
      <div className="flex justify-end">
        <Button onClick={onDone}>I have copied it</Button>
      </div>
    </section>
  );
}

/** Revoke, after a confirmation. */
function RevokeButton({
  fnName,
  k,
  onRevoked,
}: {
  fnName: string;
  k: InvokeKey;
  onRevoked: (k: InvokeKey) => void;
}) {
  const api = useApi();
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const revoke = useMutation({
    mutationFn: () => api.revokeInvokeKey(fnName, k.id),
    onSuccess: () => {
      markInvokeKeyRevoked(queryClient, fnName, k.id);
      setOpen(false);
      onRevoked(k);
    },
  });
  return (
    <>
      <Button
        variant="danger"
        className="px-2.5 py-1 text-xs"
        onClick={() => {
          revoke.reset();
          setOpen(true);
        }}
      >
        Revoke<span className="sr-only"> key {k.name}</span>
      </Button>
      {open && (
        <Dialog
          title={`Revoke key “${k.name}”?`}
          description={
            <>
              Requests with this key (<span className="font-mono text-xs">{k.prefix}…</span>) are
              refused at once. This cannot be undone.
            </>
          }
          onClose={() => !revoke.isPending && setOpen(false)}
        >
          {revoke.isError && (
            <div className="mb-3">
              <ErrorBanner title="Could not revoke the key" error={revoke.error} />
            </div>
          )}
          <div className="flex flex-wrap justify-end gap-2">
            <Button data-autofocus onClick={() => setOpen(false)} disabled={revoke.isPending}>
              Cancel
            </Button>
            <Button variant="danger" onClick={() => revoke.mutate()} disabled={revoke.isPending}>
              {revoke.isPending ? "Revoking…" : "Revoke key"}
            </Button>
          </div>
        </Dialog>
      )}
    </>
  );
}

/**
 * Keys that may invoke this one function and nothing else (for a webhook or a
 * scheduler outside EventFlow): the list, a form that makes one and shows it
 * once, and Revoke.
 */
export function InvokeKeysCard({ fn }: { fn: { name: string } }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const ids = useId();
  const name = fn.name;
  const list = useInvokeKeys(name);
  const [keyName, setKeyName] = useState("");
  const [expiry, setExpiry] = useState("never");
  const [errors, setErrors] = useState<Partial<Record<Field, string>>>({});
  // the server's refusal is on a field (shown there), not in the banner
  const [onField, setOnField] = useState(false);
  const [created, setCreated] = useState<NewInvokeKey | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const keyInput = useRef<HTMLInputElement>(null);
  const nameId = `${ids}-name`;
  const expiryId = `${ids}-expiry`;
  const itemId = (id: string) => `${ids}-key-${id}`;

  const create = useMutation({
    mutationFn: () =>
      api.createInvokeKey(name, {
        name: keyName.trim(),
        expiresInSeconds: expiresInSeconds(expiry),
      }),
    onSuccess: (k) => {
      setCreated(k);
      setKeyName("");
      setExpiry("never");
      setErrors({});
      setNotice(null);
      putInvokeKey(queryClient, k);
      setTimeout(() => keyInput.current?.focus(), 0);
    },
    onError: (e) => {
      if (e instanceof ApiError && (e.field === "name" || e.field === "expiresInSeconds")) {
        setErrors({ [e.field]: e.fieldMessage });
        setOnField(true);
        const id = e.field === "name" ? nameId : expiryId;
        setTimeout(() => document.getElementById(id)?.focus(), 0);
      }
    },
  });

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    create.reset();
    setOnField(false);
    setNotice(null);
    const problem = validateKeyName(keyName);
    setErrors(problem ? { name: problem } : {});
    if (problem) {
      setTimeout(() => document.getElementById(nameId)?.focus(), 0);
      return;
    }
    create.mutate();
  }

  function onRevoked(k: InvokeKey) {
    setNotice(`Key “${k.name}” revoked: requests with it are refused.`);
    if (created?.id === k.id) setCreated(null);
    // its Revoke button is gone: keep the keyboard on its entry
    setTimeout(() => document.getElementById(itemId(k.id))?.focus(), 0);
  }

  const items = list.data?.items ?? [];
  const full = items.length >= MAX_INVOKE_KEYS;
  const busy = create.isPending;

  let content: ReactNode;
  if (list.isPending) content = <Spinner label="Loading invoke keys…" />;
  else if (list.isError && !list.data)
    content = (
      <ErrorBanner
        title="Could not load the invoke keys"
        error={list.error}
        onRetry={() => void list.refetch()}
      />
    );
  else if (items.length === 0)
    content = (
      <p className="text-sm text-slate-500" data-testid="invoke-keys-empty">
        No keys yet.
      </p>
    );
  else
    content = (
      <ul className="divide-y divide-slate-100" aria-label={`Invoke keys of ${name}`}>
        {items.map((k) => {
          const state = invokeKeyState(k);
          return (
            <li key={k.id} className="py-3 first:pt-0 last:pb-0" data-testid={`invoke-key-${k.id}`}>
              <div className="flex flex-wrap items-center justify-between gap-2">
                <div className="flex min-w-0 flex-wrap items-center gap-2">
                  <span
                    id={itemId(k.id)}
                    tabIndex={-1}
                    className="rounded font-medium wrap-anywhere text-slate-900 focus:ring-2 focus:ring-indigo-300 focus:outline-none"
                  >
                    {k.name}
                  </span>{" "}
                  <KeyStateBadge k={k} />
                </div>
                {state === "active" && <RevokeButton fnName={name} k={k} onRevoked={onRevoked} />}
              </div>
              <dl className="mt-1 grid grid-cols-[max-content_1fr] gap-x-3 gap-y-0.5 text-xs">
                <dt className="text-slate-500">Prefix</dt>
                <dd className="font-mono break-all text-slate-800">{k.prefix}…</dd>
                <dt className="text-slate-500">Created</dt>
                <dd className="text-slate-800">
                  <When iso={k.createdAt}>{formatAge(k.createdAt)} ago</When>
                </dd>
                <dt className="text-slate-500">{state === "expired" ? "Expired" : "Expires"}</dt>
                <dd className="text-slate-800" data-testid="invoke-key-expires">
                  {!k.expiresAt ? (
                    "never"
                  ) : state === "expired" ? (
                    <When iso={k.expiresAt}>{formatAge(k.expiresAt)} ago</When>
                  ) : (
                    <When iso={k.expiresAt}>
                      {formatDateTime(k.expiresAt)} (in {formatUntil(k.expiresAt)})
                    </When>
                  )}
                </dd>
                {k.revokedAt && (
                  <>
                    <dt className="text-slate-500">Revoked</dt>
                    <dd className="text-slate-800">
                      <When iso={k.revokedAt}>{formatAge(k.revokedAt)} ago</When>
                    </dd>
                  </>
                )}
                <dt className="text-slate-500">Last used</dt>
                <dd className="text-slate-800" data-testid="invoke-key-last-used">
                  {k.lastUsedAt ? (
                    <When iso={k.lastUsedAt}>{formatAge(k.lastUsedAt)} ago</When>
                  ) : (
                    "never"
                  )}
                </dd>
              </dl>
            </li>
          );
        })}
      </ul>
    );

  return (
    <Card title="Invoke keys">
      <div className="space-y-4">
        <p className="text-sm text-slate-600">
          A key that may invoke {name} and nothing else: give it to a webhook or a scheduler outside
          EventFlow instead of your own token.
        </p>
        <p role="status" className={notice ? "text-sm text-slate-700" : "sr-only"}>
          {notice}
        </p>
        {list.isError && list.data && (
          <p role="status" className="text-sm text-amber-700">
            Could not refresh: {list.error.message}
          </p>
        )}
        {created && (
          <NewKey
            created={created}
            fnName={name}
            keyInput={keyInput}
            onDone={() => setCreated(null)}
          />
        )}
        {content}
        <form
          onSubmit={onSubmit}
          noValidate
          className="space-y-3 border-t border-slate-100 pt-4"
          aria-label="New invoke key"
        >
          <TextField
            id={nameId}
            label="Key name"
            placeholder="github-webhook"
            hint="What it is for; 1–64 characters."
            value={keyName}
            error={errors.name}
            disabled={busy}
            autoComplete="off"
            spellCheck={false}
            onChange={(e) => setKeyName(e.target.value)}
          />
          <div>
            <label htmlFor={expiryId} className="block text-sm font-medium text-slate-700">
              Expires
            </label>
            <select
              id={expiryId}
              className={`${inputClass} mt-1`}
              value={expiry}
              disabled={busy}
              aria-invalid={errors.expiresInSeconds ? true : undefined}
              aria-describedby={errors.expiresInSeconds ? `${expiryId}-error` : undefined}
              onChange={(e) => setExpiry(e.target.value)}
            >
              {EXPIRY_CHOICES.map((c) => (
                <option key={c.value} value={c.value}>
                  {c.label}
                </option>
              ))}
            </select>
            {errors.expiresInSeconds && (
              <p id={`${expiryId}-error`} className="mt-1 text-xs font-medium text-red-600">
                {errors.expiresInSeconds}
              </p>
            )}
          </div>
          {create.isError && !onField && (
            <ErrorBanner title="Could not create the key" error={create.error} />
          )}
          {full && (
            <p className="text-xs text-slate-500">
              {name} has {MAX_INVOKE_KEYS} keys, the most it may have (revoked ones count until the
              function is deleted).
            </p>
          )}
          <div className="flex justify-end">
            <Button type="submit" variant="primary" disabled={busy || full}>
              {busy ? "Creating…" : "Create key"}
            </Button>
          </div>
        </form>
      </div>
    </Card>
  );
}
