import { useEffect, useId, useRef, useState, type ReactNode } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { queryKeys, useRevisionDiff, useRevisions } from "../api/queries";
import type { FunctionObject, Revision, SpecChange } from "../api/types";
import { useApi } from "../auth/useAuth";
import { Dialog } from "../components/Dialog";
import { Button, Card, ErrorBanner, Spinner } from "../components/ui";
import { formatAge, formatDateTime } from "../lib/time";
import { changeKind, formatSpecValue, isFirstRevision, shortDigest } from "./revisions";

function When({ iso, children }: { iso: string; children: ReactNode }) {
  return (
    <time dateTime={iso} title={formatDateTime(iso)}>
      {children}
    </time>
  );
}

/** One side of a change: the value, or "not set". */
function Value({ value, side }: { value: unknown; side: "from" | "to" }) {
  const text = formatSpecValue(value);
  const tone =
    side === "from" ? "bg-red-50 text-red-800 line-through" : "bg-emerald-50 text-emerald-800";
  return (
    <span className="min-w-0">
      <span className="sr-only">{side === "from" ? "was " : "now "}</span>
      {text === null ? (
        <span className="font-sans text-slate-500 italic">not set</span>
      ) : (
        <span className={`rounded px-1 break-all ${tone}`}>{text}</span>
      )}
    </span>
  );
}

function Change({ change }: { change: SpecChange }) {
  const kind = changeKind(change);
  return (
    <li className="py-2 first:pt-0 last:pb-0" data-testid={`change-${change.path}`}>
      <div className="flex flex-wrap items-baseline gap-x-2">
        <code className="font-mono text-xs font-semibold text-slate-900">{change.path}</code>{" "}
        {kind !== "changed" && <span className="text-xs text-slate-500">{kind}</span>}
      </div>{" "}
      {/* the spaces between the flex items keep the words apart for screen readers */}
      <div className="mt-1 flex flex-wrap items-baseline gap-x-2 gap-y-1 font-mono text-xs">
        <Value value={change.from} side="from" />{" "}
        <span aria-hidden="true" className="text-slate-500">
          →
        </span>{" "}
        <Value value={change.to} side="to" />
      </div>
    </li>
  );
}

/**
 * The image digest the node ran a revision on, short (`sha256:` and 12 hex
 * digits) with the full one in the title and for screen readers; nothing when
 * it is not known.
 */
function ShortDigest({ digest }: { digest: string | null | undefined }) {
  const short = shortDigest(digest);
  if (!digest || short === null) return null;
  return (
    <span className="font-mono text-slate-500" title={digest} data-testid="revision-digest">
      <span aria-hidden="true">{short}</span> <span className="sr-only">image digest {digest}</span>
    </span>
  );
}

/** The full image digest of a revision, in its opened details. */
function FullDigest({ digest }: { digest: string | null | undefined }) {
  return (
    <p className="text-sm text-slate-600" data-testid="revision-digest-full">
      Image digest:{" "}
      {digest ? (
        <code className="font-mono text-xs break-all text-slate-800">{digest}</code>
      ) : (
        "not known (this revision has not run on a node that reports one)"
      )}
    </p>
  );
}

/** What a revision changed from the one before it (nothing to compare for the first). */
function RevisionChanges({
  name,
  revision,
  first,
}: {
  name: string;
  revision: Revision;
  first: boolean;
}) {
  const diff = useRevisionDiff(name, revision.revision, !first);
  if (first)
    return (
      <p className="text-sm text-slate-600" data-testid="revision-first">
        The first revision: {name} as it was created, with image{" "}
        <span className="font-mono text-xs wrap-anywhere">{revision.spec.image}</span>.
      </p>
    );
  if (diff.isPending) return <p className="text-sm text-slate-500">Loading changes…</p>;
  if (diff.isError)
    return (
      <ErrorBanner
        title="Could not load the changes"
        error={diff.error}
        onRetry={() => void diff.refetch()}
      />
    );
  const d = diff.data;
  return (
    <div>
      <h3 className="text-sm font-medium text-slate-900">
        Changes from revision {d.from} to {d.to}
      </h3>
      {d.changes.length === 0 ? (
        <p className="mt-1 text-sm text-slate-500">No field of the spec changed.</p>
      ) : (
        <ul className="mt-2 divide-y divide-slate-100" data-testid="revision-changes">
          {d.changes.map((c) => (
            <Change key={c.path} change={c} />
          ))}
        </ul>
      )}
    </div>
  );
}

/** "Roll back to this revision", after a confirmation; the current one cannot be. */
function RollbackButton({
  fn,
  revision,
  onRolledBack,
}: {
  fn: FunctionObject;
  revision: Revision;
  onRolledBack: (message: string) => void;
}) {
  const api = useApi();
  const queryClient = useQueryClient();
  const noteId = useId();
  const [open, setOpen] = useState(false);
  const n = revision.revision;
  const rollback = useMutation({
    mutationFn: () => api.rollbackFunction(fn.name, n),
    onSuccess: (updated) => {
      queryClient.setQueryData(queryKeys.function(updated.name), updated);
      void queryClient.invalidateQueries({ queryKey: queryKeys.functions() });
      void queryClient.invalidateQueries({ queryKey: queryKeys.revisionList(updated.name) });
      setOpen(false);
      onRolledBack(
        updated.generation === fn.generation
          ? `Nothing changed: ${fn.name} already has the spec of revision ${n}.`
          : `Rolled back to revision ${n}: its spec is now revision ${updated.generation}.`,
      );
    },
  });
  if (revision.current)
    return (
      <div>
        <Button disabled aria-describedby={noteId}>
          Roll back to this revision
        </Button>
        <p id={noteId} className="mt-1 text-xs wrap-anywhere text-slate-500">
          This is the current spec.
        </p>
      </div>
    );
  return (
    <>
      <Button
        onClick={() => {
          rollback.reset();
          setOpen(true);
        }}
      >
        Roll back to this revision
      </Button>
      {open && (
        <Dialog
          title={`Roll back to revision ${n}?`}
          description={
            <>
              {fn.name} gets the spec of revision {n} again (image{" "}
              <span className="font-mono text-xs wrap-anywhere">{revision.spec.image}</span>) as a
              new revision, applied like any change. The revisions since stay in the history.
            </>
          }
          onClose={() => !rollback.isPending && setOpen(false)}
        >
          {rollback.isError && (
            <div className="mb-3">
              <ErrorBanner title="Could not roll back" error={rollback.error} />
            </div>
          )}
          <div className="flex flex-wrap justify-end gap-2">
            <Button data-autofocus onClick={() => setOpen(false)} disabled={rollback.isPending}>
              Cancel
            </Button>
            <Button
              variant="primary"
              onClick={() => rollback.mutate()}
              disabled={rollback.isPending}
            >
              {rollback.isPending ? "Rolling back…" : `Roll back to revision ${n}`}
            </Button>
          </div>
        </Dialog>
      )}
    </>
  );
}

/**
 * The function's revisions (every change of its spec), newest first: who made
 * each and when; one opens to what it changed and can be rolled back to.
 */
export function HistoryCard({ fn }: { fn: FunctionObject }) {
  const name = fn.name;
  const ids = useId();
  const queryClient = useQueryClient();
  const list = useRevisions(name);
  const [selected, setSelected] = useState<number | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  // Every change of the spec is a revision and moves the generation (polled
  // with the function every 3 s, or set by a save here): load the list again.
  const seenGeneration = useRef(fn.generation);
  useEffect(() => {
    if (seenGeneration.current === fn.generation) return;
    seenGeneration.current = fn.generation;
    void queryClient.invalidateQueries({ queryKey: queryKeys.revisionList(name) });
  }, [fn.generation, name, queryClient]);

  const items = list.data?.pages.flatMap((p) => p.items) ?? [];
  const hasMore = list.hasNextPage;

  let content: ReactNode;
  if (list.isPending) content = <Spinner label="Loading the history…" />;
  else if (list.isError && !list.data)
    content = (
      <ErrorBanner
        title="Could not load the history"
        error={list.error}
        onRetry={() => void list.refetch()}
      />
    );
  else if (items.length === 0)
    content = (
      <p className="text-sm text-slate-500" data-testid="history-empty">
        No revisions recorded yet. Each change of the spec (image, environment, replicas, schedules,
        …) becomes a revision here, which you can compare and roll back to.
      </p>
    );
  else
    content = (
      <>
        <ul className="divide-y divide-slate-100" aria-label={`Revisions of ${name}, newest first`}>
          {items.map((r) => {
            const expanded = selected === r.revision;
            const detailsId = `${ids}-${r.revision}`;
            return (
              <li
                key={r.revision}
                className="py-3 first:pt-0 last:pb-0"
                data-testid={`revision-${r.revision}`}
              >
                <div className="flex flex-wrap items-center gap-x-3 gap-y-1">
                  <button
                    type="button"
                    className="inline-flex items-center gap-1 rounded text-sm font-medium text-indigo-700 hover:underline focus:ring-2 focus:ring-indigo-300 focus:outline-none"
                    aria-expanded={expanded}
                    aria-controls={expanded ? detailsId : undefined}
                    onClick={() => setSelected(expanded ? null : r.revision)}
                  >
                    <span aria-hidden="true">{expanded ? "▾" : "▸"}</span>
                    Revision {r.revision}
                  </button>{" "}
                  {r.current && (
                    <span
                      className="rounded-full bg-emerald-50 px-2 py-0.5 text-xs font-medium text-emerald-800 ring-1 ring-emerald-200 ring-inset"
                      data-testid="revision-current"
                    >
                      current
                    </span>
                  )}{" "}
                  {r.rollbackOf != null && (
                    <span
                      className="rounded-full bg-sky-50 px-2 py-0.5 text-xs font-medium text-sky-800 ring-1 ring-sky-200 ring-inset"
                      data-testid="revision-rollback-of"
                    >
                      rollback of {r.rollbackOf}
                    </span>
                  )}
                </div>
                <p className="mt-1 text-xs wrap-anywhere text-slate-500">
                  <span className="font-mono text-slate-700">{r.spec.image}</span>
                  {r.imageDigest && (
                    <>
                      {" "}
                      <ShortDigest digest={r.imageDigest} />
                    </>
                  )}
                  {" · by "}
                  <span className="text-slate-700">{r.actor}</span>
                  {" · "}
                  <When iso={r.createdAt}>{formatAge(r.createdAt)} ago</When>
                </p>
                {expanded && (
                  <div
                    id={detailsId}
                    className="mt-3 space-y-4 rounded-md bg-slate-50 p-3"
                    data-testid={`revision-details-${r.revision}`}
                  >
                    <RevisionChanges
                      name={name}
                      revision={r}
                      first={isFirstRevision(r, items, hasMore)}
                    />
                    <FullDigest digest={r.imageDigest} />
                    <RollbackButton fn={fn} revision={r} onRolledBack={setNotice} />
                  </div>
                )}
              </li>
            );
          })}
        </ul>
        {hasMore && (
          <div className="mt-3 flex justify-center">
            <Button disabled={list.isFetchingNextPage} onClick={() => void list.fetchNextPage()}>
              {list.isFetchingNextPage ? "Loading…" : "Load more"}
            </Button>
          </div>
        )}
      </>
    );

  return (
    <Card title="History">
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
