import { useId, useState, type FormEvent } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { ApiError, CALLBACK_HEADER } from "../api/client";
import { isActive, putInvocation, useInvocation } from "../api/queries";
import type { Invocation } from "../api/types";
import { useApi } from "../auth/useAuth";
import { Button, Card, ErrorBanner, Notice, TextField } from "../components/ui";
import { httpStatusClass, inputClass } from "../components/styles";
import { headerValue, prettyBody } from "../lib/body";
import { InvocationStatusBadge } from "./InvocationStatusBadge";

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] as const;

/** The invocation an asynchronous send queued, followed until it has finished. */
function QueuedInvocation({ queued }: { queued: Invocation }) {
  // putInvocation cached it; this refetches it every 2 s while it is queued or running
  const inv = useInvocation(queued.id).data ?? queued;
  return (
    <section aria-label="Queued invocation" className="space-y-2" data-testid="invoke-async">
      <p className="text-sm text-slate-700">
        Queued as invocation{" "}
        <span className="font-mono text-xs break-all" data-testid="invoke-async-id">
          {inv.id}
        </span>
      </p>
      <div className="flex flex-wrap items-center gap-2 text-sm">
        <InvocationStatusBadge status={inv.status} />
        {!isActive(inv) && inv.response && (
          <span
            className={`rounded-full px-2 py-0.5 font-mono text-xs font-semibold ring-1 ring-inset ${httpStatusClass(inv.response.status)}`}
          >
            {inv.response.status}
          </span>
        )}
        <span className="text-slate-500 tabular-nums">
          attempts {inv.attempts}/{inv.maxAttempts}
        </span>
      </div>
      <p className="text-sm text-slate-500">
        It is at the top of Invocations, with its attempts and the function&apos;s answer.
      </p>
    </section>
  );
}

export function InvokePanel({ name }: { name: string }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const ids = useId();
  const [method, setMethod] = useState<string>("GET");
  const [path, setPath] = useState("/");
  const [body, setBody] = useState("");
  const [isAsync, setIsAsync] = useState(false);
  const [callbackUrl, setCallbackUrl] = useState("");
  const invoke = useMutation({
    mutationFn: () => api.invoke(name, { method, path, body }),
  });
  const queue = useMutation({
    mutationFn: () => api.invokeAsync(name, { method, path, body, callbackUrl }),
    onSuccess: (inv) => putInvocation(queryClient, inv),
  });
  const hasBody = !["GET", "HEAD"].includes(method);

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    invoke.reset();
    queue.reset();
    if (isAsync) queue.mutate();
    else invoke.mutate();
  }

  // the server names the header when it refuses the callback URL
  const callbackError =
    queue.error instanceof ApiError &&
    queue.error.field?.toLowerCase() === CALLBACK_HEADER.toLowerCase()
      ? queue.error.fieldMessage
      : undefined;
  const busy = invoke.isPending || queue.isPending;

  const result = invoke.data;
  return (
    <Card title="Invoke">
      <form onSubmit={onSubmit} className="space-y-3" aria-label={`Invoke ${name}`}>
        <div className="flex flex-col gap-2 sm:flex-row">
          <div className="sm:w-32">
            <label htmlFor={`${ids}-method`} className="block text-sm font-medium text-slate-700">
              Method
            </label>
            <select
              id={`${ids}-method`}
              className={`${inputClass} mt-1`}
              value={method}
              onChange={(e) => setMethod(e.target.value)}
            >
              {METHODS.map((m) => (
                <option key={m}>{m}</option>
              ))}
            </select>
          </div>
          <div className="flex-1">
            <label htmlFor={`${ids}-path`} className="block text-sm font-medium text-slate-700">
              Path
            </label>
            <input
              id={`${ids}-path`}
              className={`${inputClass} mt-1 font-mono`}
              value={path}
              spellCheck={false}
              autoComplete="off"
              placeholder="/"
              onChange={(e) => setPath(e.target.value)}
            />
          </div>
        </div>
        {hasBody && (
          <div>
            <label htmlFor={`${ids}-body`} className="block text-sm font-medium text-slate-700">
              Body <span className="font-normal text-slate-500">(sent as application/json)</span>
            </label>
            <textarea
              id={`${ids}-body`}
              rows={4}
              spellCheck={false}
              className={`${inputClass} mt-1 font-mono`}
              placeholder='{"hello": "world"}'
              value={body}
              onChange={(e) => setBody(e.target.value)}
            />
          </div>
        )}
        <div>
          <label className="flex items-center gap-2 text-sm text-slate-700">
            <input
              type="checkbox"
              className="h-4 w-4 rounded border-slate-300 text-indigo-600"
              checked={isAsync}
              aria-describedby={`${ids}-async-hint`}
              onChange={(e) => setIsAsync(e.target.checked)}
            />
            Asynchronous
          </label>
          <p id={`${ids}-async-hint`} className="mt-1 text-xs text-slate-500">
            Queue the request and get its id at once; EventFlow calls the function, retries it if it
            fails, and keeps the answer under Invocations.
          </p>
        </div>
        {isAsync && (
          <TextField
            id={`${ids}-callback`}
            label={
              <>
                Callback URL <span className="font-normal text-slate-500">(optional)</span>
              </>
            }
            inputMode="url"
            spellCheck={false}
            autoComplete="off"
            placeholder="https://example.com/hooks/done"
            hint="EventFlow POSTs the outcome here when the invocation ends."
            value={callbackUrl}
            error={callbackError}
            onChange={(e) => setCallbackUrl(e.target.value)}
          />
        )}
        <Button type="submit" variant="primary" disabled={busy}>
          {isAsync
            ? queue.isPending
              ? "Queueing…"
              : "Queue request"
            : invoke.isPending
              ? "Sending…"
              : "Send request"}
        </Button>
      </form>

      <div aria-live="polite" className="mt-4">
        {invoke.isError && <ErrorBanner title="The request failed" error={invoke.error} />}
        {queue.isError && !callbackError && (
          <ErrorBanner title="Could not queue the request" error={queue.error} />
        )}
        {queue.data && <QueuedInvocation queued={queue.data} />}
        {result?.gatewayError && (
          <div className="mb-3">
            <Notice tone="warn">
              EventFlow answered instead of the function: {result.gatewayError.message}{" "}
              <code className="font-mono text-xs">({result.gatewayError.code})</code>
            </Notice>
          </div>
        )}
        {result && (
          <section aria-label="Response" className="space-y-3">
            <div className="flex flex-wrap items-center gap-3 text-sm">
              <span
                className={`rounded-full px-2 py-0.5 font-mono text-xs font-semibold ring-1 ring-inset ${httpStatusClass(result.status)}`}
                data-testid="invoke-status"
              >
                {result.status} {result.statusText}
              </span>
              <span className="text-slate-500">{result.durationMs} ms</span>
            </div>
            <details className="rounded-md border border-slate-200">
              <summary className="cursor-pointer px-3 py-2 text-sm font-medium text-slate-700">
                Headers ({result.headers.length})
              </summary>
              <dl className="grid grid-cols-[max-content_1fr] gap-x-4 gap-y-1 border-t border-slate-100 px-3 py-2 font-mono text-xs">
                {result.headers.map(([k, v]) => (
                  <div key={k} className="contents">
                    <dt className="text-slate-500">{k}</dt>
                    <dd className="break-all text-slate-800">{v}</dd>
                  </div>
                ))}
              </dl>
            </details>
            {/* focusable so keyboard users can scroll a long body */}
            <pre
              tabIndex={0}
              aria-label="Response body"
              className="max-h-80 overflow-auto rounded-md bg-slate-900 p-3 font-mono text-xs leading-5 whitespace-pre-wrap break-all text-slate-100"
            >
              {result.body === "" ? (
                <span className="text-slate-400">(empty body)</span>
              ) : (
                prettyBody(result.body, headerValue(result.headers, "content-type") ?? "")
              )}
            </pre>
          </section>
        )}
      </div>
    </Card>
  );
}
