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

/** A quota value as a constant line; nulls (no line) when the quota does not limit it (0). */
function quotaLine(points: readonly TenantPoint[], hard: number): (number | null)[] {
  return points.map(() => (hard > 0 ? hard : null));
}

/** Pods per step and the quota's pods: the pods chart's two columns. */
export function podColumns(
  points: readonly TenantPoint[],
  quota: QuotaLimits,
): [number[], (number | null)[]] {
  return [points.map((p) => p.pods), quotaLine(points, quota.pods)];
}

/** Requested CPU (millicores) per step and the quota's: the CPU chart's two columns. */
export function cpuRequestColumns(
  points: readonly TenantPoint[],
  quota: QuotaLimits,
): [number[], (number | null)[]] {
  return [
    points.map((p) => p.requestsCpuMillicores),
    quotaLine(points, quota.requestsCpuMillicores),
  ];
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
