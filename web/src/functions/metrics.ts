// Data shaping for the Metrics card: the ranges it offers, the outcomes it
// stacks, and the functions that turn the server's points into uPlot's column
// arrays and the summary's numbers. Pure, so unit-tested without a canvas.
import type { CallCounts, FunctionMetrics, MetricsPoint } from "../api/types";

/** Every range a card can offer, as the API spells them. */
export const ALL_METRICS_RANGES = ["15m", "1h", "6h", "24h", "7d"] as const;
export type MetricsRange = (typeof ALL_METRICS_RANGES)[number];
/** The ranges every backend answers (the embedded store keeps 24 h). */
export const METRICS_RANGES: readonly MetricsRange[] = ["15m", "1h", "6h", "24h"];
export const DEFAULT_METRICS_RANGE: MetricsRange = "1h";

/**
 * The ranges to offer after an answer from `backend`: 7 days only from
 * Prometheus (the embedded store keeps a day); before any answer, the four.
 */
export function rangesFor(backend: string | undefined): readonly MetricsRange[] {
  return backend === "prometheus" ? ALL_METRICS_RANGES : METRICS_RANGES;
}

/** Short label on the range picker. */
export const RANGE_LABELS: Record<MetricsRange, string> = {
  "15m": "15 min",
  "1h": "1 h",
  "6h": "6 h",
  "24h": "24 h",
  "7d": "7 d",
};

/** The range in words, for sentences ("No invocations in the last 15 minutes"). */
export const RANGE_WORDS: Record<MetricsRange, string> = {
  "15m": "15 minutes",
  "1h": "hour",
  "6h": "6 hours",
  "24h": "24 hours",
  "7d": "7 days",
};

export type Outcome = keyof CallCounts;

/**
 * The outcomes in stacking order (bottom first), each with a colour of the
 * Okabe–Ito palette (told apart with any common colour-vision deficiency) and
 * what it means.
 */
export const OUTCOMES: readonly { key: Outcome; name: string; color: string; label: string }[] = [
  { key: "2xx", name: "2xx", color: "#009E73", label: "2xx and 3xx" },
  { key: "4xx", name: "4xx", color: "#E69F00", label: "4xx" },
  { key: 429, name: "429", color: "#F0E442", label: "429 limited" },
  { key: "5xx", name: "5xx", color: "#D55E00", label: "5xx" },
  { key: 503, name: "503", color: "#CC79A7", label: "503 no replica" },
  { key: 504, name: "504", color: "#0072B2", label: "504 timeout" },
];

/** Latency lines: colour and dash, so they differ without colour too. */
export const LATENCY_LINES = [
  { key: "p50", color: "#0072B2", dash: [] as number[], label: "p50" },
  { key: "p95", color: "#E69F00", dash: [6, 3], label: "p95" },
  { key: "p99", color: "#D55E00", dash: [2, 2], label: "p99" },
] as const;

export const COLD_START_COLOR = "#CC79A7";

/** Every call of a step or range, whatever its outcome. */
export function totalCalls(c: CallCounts): number {
  return OUTCOMES.reduce((sum, o) => sum + c[o.key], 0);
}

/** Calls that were errors: 4xx, 5xx, 503 and 504 (429, the tenant's own limit, is not). */
export function errorCalls(c: CallCounts): number {
  return c["4xx"] + c["5xx"] + c["503"] + c["504"];
}

/** Errors over all calls, 0 to 1; null without calls. */
export function errorShare(c: CallCounts): number | null {
  const all = totalCalls(c);
  return all === 0 ? null : errorCalls(c) / all;
}

/** A share as a percentage: 0%, 0.4%, 12%, 100%; an em dash for null. */
export function formatShare(share: number | null): string {
  if (share === null || !Number.isFinite(share)) return "—";
  const pct = share * 100;
  if (pct === 0) return "0%";
  if (pct < 0.1) return "<0.1%";
  if (pct < 10) return `${(Math.round(pct * 10) / 10).toString()}%`;
  return `${Math.round(pct)}%`;
}

/** Milliseconds: 0.42 ms, 3.1 ms, 48 ms, 1.2 s, 12 s; an em dash for null. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 1000)} s`;
}

/** Calls per second: 0, 0.006, 0.5, 12, 1,234 (at most 3 significant digits below 100). */
export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return "0";
  if (perSecond >= 100) return Math.round(perSecond).toLocaleString("en-US");
  return Number(perSecond.toPrecision(perSecond < 0.001 ? 1 : 3)).toString();
}

/** Seconds since the epoch of each point's start: uPlot's x column. */
export function timestamps(points: readonly { at: string }[]): number[] {
  return points.map((p) => Date.parse(p.at) / 1000);
}

/**
 * Calls per step by outcome, stacked: one column per outcome in OUTCOMES
 * order, each the sum of that outcome and the ones below it, so the last is
 * the step's total. uPlot draws bars from zero, so the card paints them top
 * first and each lower one over it.
 */
export function stackedCalls(points: readonly { calls: CallCounts }[]): number[][] {
  const running = points.map(() => 0);
  return OUTCOMES.map((o) =>
    points.map((p, i) => {
      running[i] = (running[i] ?? 0) + p.calls[o.key];
      return running[i];
    }),
  );
}

/** p50, p95 and p99 columns; null (a gap in the line) where a step had no calls. */
export function latencyColumns(points: readonly MetricsPoint[]): (number | null)[][] {
  return LATENCY_LINES.map((l) => points.map((p) => p.latencyMs?.[l.key] ?? null));
}

/** Cold starts per step. */
export function coldStartColumn(points: readonly MetricsPoint[]): number[] {
  return points.map((p) => p.coldStarts);
}

/** Whether the range had no calls at all. */
export function isEmpty(m: FunctionMetrics): boolean {
  return totalCalls(m.summary.calls) === 0;
}

/** The step width in words: 10 s, 5 min, 1 h. */
export function formatStep(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

/** The steps that had calls or cold starts: the rows of the card's text table. */
export function activePoints(points: readonly MetricsPoint[]): MetricsPoint[] {
  return points.filter((p) => totalCalls(p.calls) > 0 || p.coldStarts > 0);
}

/**
 * Ready and asked-for replicas (the most of each step): the replicas chart's
 * two lines, ready first so that the dashed asked-for line is drawn over it.
 */
export function replicaColumns(
  points: readonly MetricsPoint[],
  now?: { replicas: number; readyReplicas: number },
): [number[], number[]] {
  const ready = points.map((p) => p.readyReplicas);
  const asked = points.map((p) => p.replicas);
  // The last step is the one in progress: until the server's next 10 s sample
  // it reads 0. The status now (the response's `replicas`/`readyReplicas`) is
  // an observation inside that step, so the step's most is at least that.
  const i = points.length - 1;
  if (now && i >= 0) {
    ready[i] = Math.max(ready[i] ?? 0, now.readyReplicas);
    asked[i] = Math.max(asked[i] ?? 0, now.replicas);
  }
  return [ready, asked];
}

/** Ready and asked-for replica colours and dashes (told apart without colour too). */
export const REPLICA_LINES = [
  { label: "Ready", color: "#009E73", dash: [] as number[] },
  { label: "Asked for", color: "#0072B2", dash: [6, 3] as number[] },
] as const;

/**
 * uPlot columns for step lines: `x` and each column with one more point at
 * the end of the last step holding its value, so that the last step is drawn
 * to the edge of the time axis (a step line ends at its last point).
 */
export function heldSteps(
  x: readonly number[],
  cols: readonly (readonly (number | null)[])[],
  stepSeconds: number,
): (number | null)[][] {
  const last = x[x.length - 1];
  if (last === undefined) return [[...x], ...cols.map((c) => [...c])];
  return [[...x, last + stepSeconds], ...cols.map((c) => [...c, c[c.length - 1] ?? null])];
}

/** CPU in cores per step, null where unknown (a gap). */
export function cpuColumn(points: readonly MetricsPoint[]): (number | null)[] {
  return points.map((p) => p.cpuCores ?? null);
}

/** Working-set memory in bytes per step, null where unknown (a gap). */
export function memoryColumn(points: readonly MetricsPoint[]): (number | null)[] {
  return points.map((p) => p.memoryBytes ?? null);
}

/** Whether some point knows CPU or memory (only Prometheus scraping the kubelets gives them). */
export function hasResourceUsage(points: readonly MetricsPoint[]): boolean {
  return points.some((p) => p.cpuCores != null || p.memoryBytes != null);
}

/** CPU in cores: 0, 2m (millicores below one core), 1.25 cores; an em dash for null. */
export function formatCores(cores: number | null | undefined): string {
  if (cores === null || cores === undefined || !Number.isFinite(cores) || cores < 0) return "—";
  if (cores === 0) return "0";
  if (cores < 1) return `${Number((cores * 1000).toPrecision(3)).toString()}m`;
  return `${Number(cores.toPrecision(3)).toString()} cores`;
}

/** Millicores as the quota spells CPU: 250m, 1.5 cores. */
export function formatMillicores(m: number): string {
  return formatCores(m / 1000);
}

/** Bytes in binary units: 512 B, 12 KiB, 48.5 MiB, 1.2 GiB; an em dash for null. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes) || bytes < 0) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const n = i === 0 || v >= 100 ? Math.round(v).toString() : Number(v.toPrecision(3)).toString();
  return `${n} ${units[i]}`;
}

/** The largest value of a column, ignoring nulls; 0 for none. */
export function columnMax(col: readonly (number | null)[]): number {
  return col.reduce<number>((m, v) => (v !== null && v > m ? v : m), 0);
}
