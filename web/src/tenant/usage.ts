// Data shaping for the tenant page's Usage card (GET /v1/metrics): the
// functions ranked by calls and by errors, and the pods and requested CPU
// columns drawn against the quota. Pure, so unit-tested without a canvas.
import type { FunctionTotals, QuotaLimits, TenantMetrics, TenantPoint } from "../api/types";
import { totalCalls } from "../functions/metrics";

/** How many functions each ranking shows. */
export const TOP_FUNCTIONS = 5;

/** All of a function's calls over the range, whatever their outcome. */
export function functionCalls(f: FunctionTotals): number {
  return totalCalls(f.calls);
}

/** The functions that were called, most calls first (then by name), at most `n`. */
export function topByCalls(fns: readonly FunctionTotals[], n = TOP_FUNCTIONS): FunctionTotals[] {
  return fns
    .filter((f) => functionCalls(f) > 0)
    .sort((a, b) => functionCalls(b) - functionCalls(a) || a.name.localeCompare(b.name))
    .slice(0, n);
}

/**
 * The functions that answered errors (5xx, 503, 504 as the server counts
 * them), most errors first, then the higher ratio, then by name; at most `n`.
 */
export function topByErrors(fns: readonly FunctionTotals[], n = TOP_FUNCTIONS): FunctionTotals[] {
  return fns
    .filter((f) => f.errors > 0)
    .sort(
      (a, b) => b.errors - a.errors || b.errorRatio - a.errorRatio || a.name.localeCompare(b.name),
    )
    .slice(0, n);
}

/** Calls of every function over the range. */
export function tenantCalls(m: TenantMetrics): number {
  return m.points.reduce((sum, p) => sum + totalCalls(p.calls), 0);
}

/** Errors of every function over the range (the server's count: 5xx, 503, 504). */
export function tenantErrors(m: TenantMetrics): number {
  return m.functions.reduce((sum, f) => sum + f.errors, 0);
}

/**
 * Whether a quota belongs on the chart: it limits (not 0) and the most used
 * is at least a quarter of it. Far below it, the usage would be a flat line at
 * the bottom of a chart scaled to the quota; the card then names the quota
 * beside the chart instead.
 */
export function quotaInView(peak: number, hard: number): boolean {
  return hard > 0 && peak * 4 >= hard;
}

/**
 * Whether the last step, the one in progress, has no replica sample yet: the
 * server samples every 10 s, so for a few seconds it reads no pods at all
 * while the step before had some. Drawn as a gap, not as a drop to zero.
 */
export function unsampledTail(points: readonly TenantPoint[]): boolean {
  const last = points[points.length - 1];
  const before = points[points.length - 2];
  return (
    last !== undefined &&
    before !== undefined &&
    last.pods === 0 &&
    last.readyReplicasAvg === 0 &&
    before.pods > 0
  );
}

/**
 * Used per step (null for an unsampled last step) and the quota as a
 * constant line (nulls: no line, as above).
 */
function againstQuota(
  points: readonly TenantPoint[],
  used: number[],
  hard: number,
): [(number | null)[], (number | null)[]] {
  const inView = quotaInView(Math.max(0, ...used), hard);
  const drawn: (number | null)[] = [...used];
  if (unsampledTail(points)) drawn[drawn.length - 1] = null;
  return [drawn, used.map(() => (inView ? hard : null))];
}

/** Pods per step and the quota's pods: the pods chart's two columns. */
export function podColumns(
  points: readonly TenantPoint[],
  quota: QuotaLimits,
): [(number | null)[], (number | null)[]] {
  return againstQuota(
    points,
    points.map((p) => p.pods),
    quota.pods,
  );
}

/** Requested CPU (millicores) per step and the quota's: the CPU chart's two columns. */
export function cpuRequestColumns(
  points: readonly TenantPoint[],
  quota: QuotaLimits,
): [(number | null)[], (number | null)[]] {
  return againstQuota(
    points,
    points.map((p) => p.requestsCpuMillicores),
    quota.requestsCpuMillicores,
  );
}

/** Whether any pod ran in the range. */
export function hadPods(points: readonly TenantPoint[]): boolean {
  return points.some((p) => p.pods > 0 || p.readyReplicasAvg > 0);
}

/** The steps that had calls or pods: the rows of the card's hidden table. */
export function activeTenantPoints(points: readonly TenantPoint[]): TenantPoint[] {
  return points.filter((p) => totalCalls(p.calls) > 0 || p.pods > 0);
}

/** "3 of 50" against a quota, or just the number when the quota does not limit it. */
export function ofQuota(used: string, hard: number, hardText: string): string {
  return hard > 0 ? `${used} of ${hardText}` : used;
}
