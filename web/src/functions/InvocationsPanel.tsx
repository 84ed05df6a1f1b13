import { Fragment, useEffect, useId, useRef, useState, type ReactNode } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { isActive, putInvocation, queryKeys, useInvocation, useInvocations } from "../api/queries";
import type { FunctionObject, Invocation, InvocationStatus } from "../api/types";
import { useApi } from "../auth/useAuth";
import { Button, Card, ErrorBanner, Spinner } from "../components/ui";
import { httpStatusClass, inputClass } from "../components/styles";
import { headerValue, prettyBody } from "../lib/body";
import { formatAge, formatDateTime, formatDuration, formatUntil } from "../lib/time";
import { InvocationStatusBadge } from "./InvocationStatusBadge";

type Filter = InvocationStatus | "all";
const FILTERS: { value: Filter; label: string }[] = [
  { value: "all", label: "All" },
  { value: "queued", label: "Queued" },
  { value: "running", label: "Running" },
  { value: "succeeded", label: "Succeeded" },
  { value: "failed", label: "Failed" },
  { value: "dead", label: "Dead" },
];

/** The first block of an invocation id, enough to tell them apart on screen. */
function shortId(id: string): string {
  return id.split("-")[0] ?? id;
}

/** `api` or `schedule:NAME` as a reader says it. */
function Source({ source }: { source: string }) {
  if (source === "api") return <>API</>;
  if (source.startsWith("schedule:"))
    return (
      <>
        schedule <span className="font-mono text-xs">{source.slice("schedule:".length)}</span>
      </>
    );
  return <span className="font-mono text-xs">{source}</span>;
}

function When({ iso, children }: { iso: string; children: ReactNode }) {
  return (
    <time dateTime={iso} title={formatDateTime(iso)}>
      {children}
    </time>
  );
}

function HttpStatus({ status }: { status: number | null | undefined }) {
  if (status == null) return <span className="text-slate-500">—</span>;
  return (
    <span
      className={`rounded-full px-2 py-0.5 font-mono text-xs font-semibold ring-1 ring-inset ${httpStatusClass(status)}`}
    >
      {status}
    </span>
  );
}

function Detail({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="grid grid-cols-1 gap-1 py-1.5 sm:grid-cols-4 sm:gap-4">
      <dt className="text-slate-500">{label}</dt>
      <dd className="break-words text-slate-900 sm:col-span-3">{children}</dd>
    </div>
  );
}

/** What the expanded row shows: the request, the attempt log, the last error and the answer. */
function InvocationDetails({ summary }: { summary: Invocation }) {
  // the list has no attempt log; this loads it (and follows an unfinished invocation)
  const query = useInvocation(summary.id);
  const inv = query.data ?? summary;
  const short = shortId(inv.id);
  const log = query.data?.attemptLog ?? null;
  const res = inv.response;
  return (
    <div className="space-y-4 text-sm" data-testid={`invocation-details-${inv.id}`}>
      <dl className="divide-y divide-slate-100">
        <Detail label="Id">
          <span className="font-mono text-xs break-all">{inv.id}</span>
        </Detail>
        <Detail label="Request">
          <span className="font-mono text-xs">
            {inv.method} /{inv.path.replace(/^\/+/, "")}
          </span>
        </Detail>
        <Detail label="Created">
          <When iso={inv.createdAt}>{formatDateTime(inv.createdAt)}</When>
        </Detail>
        {inv.finishedAt && (
          <Detail label="Finished">
            <When iso={inv.finishedAt}>{formatDateTime(inv.finishedAt)}</When>
          </Detail>
        )}
        {inv.status === "queued" && inv.nextAttemptAt && (
          <Detail label="Next attempt">
            <When iso={inv.nextAttemptAt}>in {formatUntil(inv.nextAttemptAt)}</When>
          </Detail>
        )}
        {inv.callbackUrl && (
          <Detail label="Callback">
            <span className="font-mono text-xs break-all">{inv.callbackUrl}</span>
            {inv.callbackStatus ? ` (${inv.callbackStatus})` : " (not yet sent)"}
          </Detail>
        )}
      </dl>

      {inv.lastError && (
        <div>
          <h3 className="font-medium text-slate-900">Last error</h3>
          <p className="mt-1 font-mono text-xs break-words text-red-700">{inv.lastError}</p>
        </div>
      )}

      <div>
        <h3 className="font-medium text-slate-900">Attempts</h3>
        {query.isError && !query.data ? (
          <div className="mt-2">
            <ErrorBanner
              title="Could not load the attempts"
              error={query.error}
              onRetry={() => void query.refetch()}
            />
          </div>
        ) : log === null ? (
          <p className="mt-1 text-slate-500">Loading attempts…</p>
        ) : log.length === 0 ? (
          <p className="mt-1 text-slate-500">
            None yet: the first attempt is made as soon as a worker is free.
          </p>
        ) : (
          <div className="relative mt-1 overflow-x-auto">
            <table className="min-w-full text-left text-xs">
              <caption className="sr-only">Attempts of invocation {short}</caption>
              <thead className="text-slate-500">
                <tr>
                  <th scope="col" className="py-1 pr-3 font-medium">
                    #
                  </th>
                  <th scope="col" className="py-1 pr-3 font-medium">
                    Started
                  </th>
                  <th scope="col" className="py-1 pr-3 font-medium">
                    Took
                  </th>
                  <th scope="col" className="py-1 pr-3 font-medium">
                    HTTP
                  </th>
                  <th scope="col" className="py-1 pr-3 font-medium">
                    Outcome
                  </th>
                  <th scope="col" className="py-1 font-medium">
                    Error
                  </th>
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100">
                {log.map((a) => (
                  <tr key={a.n} data-testid={`attempt-${a.n}`}>
                    <td className="py-1 pr-3 tabular-nums">{a.n}</td>
                    <td className="py-1 pr-3 whitespace-nowrap">
                      <When iso={a.startedAt}>{formatDateTime(a.startedAt)}</When>
                    </td>
                    <td className="py-1 pr-3 whitespace-nowrap tabular-nums">
                      {a.finishedAt
                        ? formatDuration(Date.parse(a.finishedAt) - Date.parse(a.startedAt))
                        : "—"}
                    </td>
                    <td className="py-1 pr-3">{a.status ?? "—"}</td>
                    <td className="py-1 pr-3">{a.outcome ?? "under way"}</td>
                    <td className="py-1 break-words text-slate-600">{a.error ?? ""}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </div>

      <div>
        <h3 className="font-medium text-slate-900">Response</h3>
        {!res ? (
          <p className="mt-1 text-slate-500">
            {isActive(inv)
              ? "No answer yet."
              : "The function did not answer (see the attempts above)."}
          </p>
        ) : (
          <div className="mt-1 space-y-2">
            <div className="flex flex-wrap items-center gap-2">
              <HttpStatus status={res.status} />
              {res.truncated && (
                <span className="text-xs text-amber-800">
                  Cut short: the server keeps only the start of long bodies.
                </span>
              )}
            </div>
            <details className="rounded-md border border-slate-200">
              <summary className="cursor-pointer px-3 py-2 font-medium text-slate-700">
                Headers ({res.headers.length})
              </summary>
              <dl className="grid grid-cols-[max-content_1fr] gap-x-4 gap-y-1 border-t border-slate-100 px-3 py-2 font-mono text-xs">
                {res.headers.map(([k, v], i) => (
                  <div key={`${k}-${i}`} className="contents">
                    <dt className="text-slate-500">{k}</dt>
                    <dd className="break-all text-slate-800">{v}</dd>
                  </div>
                ))}
              </dl>
            </details>
            {res.bodyBase64 != null && res.body == null && (
              <p className="text-xs text-slate-500">Not UTF-8 text; shown as base64.</p>
            )}
            {/* focusable so keyboard users can scroll a long body */}
            <pre
              tabIndex={0}
              aria-label={`Response body of invocation ${short}`}
              className="max-h-64 overflow-auto rounded-md bg-slate-900 p-3 font-mono text-xs leading-5 whitespace-pre-wrap break-all text-slate-100"
            >
              {res.body != null && res.body !== "" ? (
                prettyBody(res.body, headerValue(res.headers, "content-type") ?? "")
              ) : res.bodyBase64 ? (
                res.bodyBase64
              ) : (
                <span className="text-slate-400">(empty body)</span>
              )}
            </pre>
          </div>
        )}
      </div>
    </div>
  );
}

/** Queues a dead or failed invocation again; the row shows it queued at once. */
function RedriveButton({
  inv,
  onRedriven,
}: {
  inv: Invocation;
  onRedriven: (updated: Invocation) => void;
}) {
  const api = useApi();
  const queryClient = useQueryClient();
  const errorId = useId();
  const redrive = useMutation({
    mutationFn: () => api.redriveInvocation(inv.id),
    onSuccess: (updated) => {
      putInvocation(queryClient, updated);
      onRedriven(updated);
    },
  });
  return (
    <div>
      <Button
        className="px-2.5 py-1 text-xs"
        disabled={redrive.isPending}
        aria-describedby={redrive.isError ? errorId : undefined}
        onClick={() => redrive.mutate()}
      >
        {redrive.isPending ? "Re-driving…" : "Re-drive"}
        <span className="sr-only"> invocation {shortId(inv.id)}</span>
      </Button>
      {redrive.isError && (
        <p id={errorId} role="alert" className="mt-1 max-w-48 text-xs text-red-700">
          {redrive.error.message}
        </p>
      )}
    </div>
  );
}

const COLUMNS = ["Invocation", "Status", "Attempts", "Response", "Request", "Source", "Age"];

/**
 * A function's asynchronous invocations (sent with "Asynchronous" from the
 * invoke panel, or run by a schedule), newest first, with a status filter,
 * paging, rows that open to their attempts and answer, and Re-drive on dead
 * and failed ones.
 */
export function InvocationsPanel({ fn }: { fn: FunctionObject }) {
  const name = fn.name;
  const ids = useId();
  const queryClient = useQueryClient();
  const [filter, setFilter] = useState<Filter>("all");
  const [open, setOpen] = useState<ReadonlySet<string>>(() => new Set());
  const [notice, setNotice] = useState<string | null>(null);
  const list = useInvocations(name, filter);
  const toggleId = (id: string) => `${ids}-${id}-toggle`;

  function onRedriven(inv: Invocation) {
    setNotice(`Invocation ${shortId(inv.id)} is ${inv.status} again.`);
    // its Re-drive button is gone: keep the keyboard on its row
    setTimeout(() => document.getElementById(toggleId(inv.id))?.focus(), 0);
  }

  // A schedule ran (the function's status, polled every 3 s, names a new last
  // invocation): load the list again to show it.
  const lastRuns = (fn.status.schedules ?? []).map((s) => s.lastInvocationId ?? "").join(",");
  const seenRuns = useRef(lastRuns);
  useEffect(() => {
    if (seenRuns.current === lastRuns) return;
    seenRuns.current = lastRuns;
    void queryClient.invalidateQueries({ queryKey: queryKeys.invocations(name) });
  }, [lastRuns, name, queryClient]);

  const toggle = (id: string) =>
    setOpen((prev) => {
      const next = new Set(prev);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  const items = list.data?.pages.flatMap((p) => p.items) ?? [];
  const label = FILTERS.find((f) => f.value === filter)?.label.toLowerCase() ?? filter;

  let content: ReactNode;
  if (list.isPending) content = <Spinner label="Loading invocations…" />;
  else if (list.isError && !list.data)
    content = (
      <ErrorBanner
        title="Could not load the invocations"
        error={list.error}
        onRetry={() => void list.refetch()}
      />
    );
  else if (items.length === 0)
    content =
      filter === "all" ? (
        <p className="text-sm text-slate-500" data-testid="invocations-empty">
          No asynchronous invocations yet. Send a request from Invoke with “Asynchronous” ticked, or
          add a schedule: each invocation appears here with its status, attempts and the
          function&apos;s answer, and dead or failed ones can be re-driven.
        </p>
      ) : (
        <p className="text-sm text-slate-500" data-testid="invocations-empty">
          No {label} invocations. Choose “All” to see the others.
        </p>
      );
  else
    content = (
      <>
        {/* relative: the sr-only texts at its far right scroll with it instead of widening the page */}
        <div className="relative -mx-4 overflow-x-auto sm:mx-0">
          <table className="min-w-full text-left text-sm">
            <caption className="sr-only">Asynchronous invocations of {name}, newest first</caption>
            <thead className="text-xs tracking-wide text-slate-500 uppercase">
              <tr>
                {COLUMNS.map((c, i) => (
                  <th key={c} scope="col" className={`px-4 py-2 ${i === 0 ? "sm:pl-0" : ""}`}>
                    {c}
                  </th>
                ))}
                <th scope="col" className="px-4 py-2 sm:pr-0">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-100">
              {items.map((inv) => {
                const expanded = open.has(inv.id);
                const detailsId = `${ids}-${inv.id}`;
                return (
                  <Fragment key={inv.id}>
                    <tr data-testid={`invocation-${inv.id}`}>
                      <td className="px-4 py-2 sm:pl-0">
                        <button
                          id={toggleId(inv.id)}
                          type="button"
                          className="inline-flex items-center gap-1 rounded font-mono text-xs text-indigo-700 hover:underline focus:ring-2 focus:ring-indigo-300 focus:outline-none"
                          aria-expanded={expanded}
                          aria-controls={expanded ? detailsId : undefined}
                          onClick={() => toggle(inv.id)}
                        >
                          <span aria-hidden="true">{expanded ? "▾" : "▸"}</span>
                          <span className="sr-only">Details of invocation </span>
                          {shortId(inv.id)}
                        </button>
                      </td>
                      <td className="px-4 py-2">
                        <InvocationStatusBadge status={inv.status} />
                      </td>
                      <td
                        className="px-4 py-2 whitespace-nowrap tabular-nums"
                        data-testid="invocation-attempts"
                      >
                        {inv.attempts}/{inv.maxAttempts}
                      </td>
                      <td className="px-4 py-2" data-testid="invocation-response">
                        <HttpStatus status={inv.response?.status} />
                      </td>
                      <td className="max-w-48 truncate px-4 py-2 font-mono text-xs">
                        {inv.method} /{inv.path.replace(/^\/+/, "")}
                      </td>
                      <td className="px-4 py-2 whitespace-nowrap" data-testid="invocation-source">
                        <Source source={inv.source} />
                      </td>
                      <td className="px-4 py-2 whitespace-nowrap text-slate-500">
                        <When iso={inv.createdAt}>{formatAge(inv.createdAt)} ago</When>
                      </td>
                      <td className="px-4 py-2 sm:pr-0">
                        {(inv.status === "dead" || inv.status === "failed") && (
                          <RedriveButton inv={inv} onRedriven={onRedriven} />
                        )}
                      </td>
                    </tr>
                    {expanded && (
                      <tr>
                        <td
                          id={detailsId}
                          colSpan={COLUMNS.length + 1}
                          className="bg-slate-50 px-4 py-3 sm:px-3"
                        >
                          <InvocationDetails summary={inv} />
                        </td>
                      </tr>
                    )}
                  </Fragment>
                );
              })}
            </tbody>
          </table>
        </div>
        {list.hasNextPage && (
          <div className="mt-3 flex justify-center">
            <Button disabled={list.isFetchingNextPage} onClick={() => void list.fetchNextPage()}>
              {list.isFetchingNextPage ? "Loading…" : "Load more"}
            </Button>
          </div>
        )}
      </>
    );

  return (
    <Card
      title="Invocations"
      actions={
        <div className="flex flex-wrap items-center gap-2">
          <label htmlFor={`${ids}-status`} className="text-sm text-slate-600">
            Status
          </label>
          <div className="w-32">
            <select
              id={`${ids}-status`}
              className={`${inputClass} py-1.5`}
              value={filter}
              onChange={(e) => {
                setFilter(e.target.value as Filter);
                setNotice(null);
              }}
            >
              {FILTERS.map((f) => (
                <option key={f.value} value={f.value}>
                  {f.label}
                </option>
              ))}
            </select>
          </div>
          <Button className="py-1.5" onClick={() => void list.refetch()}>
            Refresh
          </Button>
        </div>
      }
    >
      <p role="status" className={notice ? "mb-3 text-sm text-slate-700" : "sr-only"}>
        {notice}
      </p>
      {list.isError && list.data && (
        <p role="status" className="mb-3 text-sm text-amber-700">
          Could not refresh: {list.error.message}
        </p>
      )}
      {content}
    </Card>
  );
}
