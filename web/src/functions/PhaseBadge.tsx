import type { Phase } from "../api/types";

const STYLES: Record<Phase, { dot: string; badge: string }> = {
  Pending: { dot: "bg-slate-400", badge: "bg-slate-100 text-slate-700 ring-slate-200" },
  Deploying: {
    dot: "bg-amber-500 animate-pulse",
    badge: "bg-amber-50 text-amber-800 ring-amber-200",
  },
  Running: { dot: "bg-emerald-500", badge: "bg-emerald-50 text-emerald-800 ring-emerald-200" },
  Failed: { dot: "bg-red-500", badge: "bg-red-50 text-red-800 ring-red-200" },
  // scaled to zero; the next invocation wakes it
  Idle: { dot: "bg-sky-400", badge: "bg-sky-50 text-sky-800 ring-sky-200" },
};

const FALLBACK = { dot: "bg-slate-400", badge: "bg-slate-100 text-slate-700 ring-slate-200" };

export function PhaseBadge({ phase, reason }: { phase: Phase | string; reason?: string | null }) {
  const s = STYLES[phase as Phase] ?? FALLBACK;
  return (
    <span className="inline-flex flex-wrap items-center gap-x-2 gap-y-1">
      <span
        className={`inline-flex items-center gap-1.5 rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${s.badge}`}
        data-phase={phase}
      >
        <span className={`h-1.5 w-1.5 rounded-full ${s.dot}`} aria-hidden="true" />
        {phase}
      </span>
      {reason && <span className="text-xs text-slate-500">{reason}</span>}
    </span>
  );
}
