import type { InvocationStatus } from "../api/types";

const STYLES: Record<InvocationStatus, { dot: string; badge: string }> = {
  queued: { dot: "bg-slate-400", badge: "bg-slate-100 text-slate-700 ring-slate-200" },
  running: { dot: "bg-sky-500 animate-pulse", badge: "bg-sky-50 text-sky-800 ring-sky-200" },
  succeeded: {
    dot: "bg-emerald-500",
    badge: "bg-emerald-50 text-emerald-800 ring-emerald-200",
  },
  // the function refused it (a 4xx other than 429): not retried
  failed: { dot: "bg-amber-500", badge: "bg-amber-50 text-amber-800 ring-amber-200" },
  // every attempt used up: a dead letter, to re-drive
  dead: { dot: "bg-red-500", badge: "bg-red-50 text-red-800 ring-red-200" },
};

const FALLBACK = { dot: "bg-slate-400", badge: "bg-slate-100 text-slate-700 ring-slate-200" };

/** An asynchronous invocation's status: queued, running, succeeded, failed or dead. */
export function InvocationStatusBadge({ status }: { status: InvocationStatus | string }) {
  const s = STYLES[status as InvocationStatus] ?? FALLBACK;
  return (
    <span
      className={`inline-flex items-center gap-1.5 rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${s.badge}`}
      data-invocation-status={status}
    >
      <span className={`h-1.5 w-1.5 rounded-full ${s.dot}`} aria-hidden="true" />
      {status}
    </span>
  );
}
