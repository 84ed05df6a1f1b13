import { useId, useMemo, useState, type ReactNode } from "react";
import { Link } from "react-router";
import { useTenantMetrics } from "../api/queries";
import type { FunctionTotals, TenantMetrics } from "../api/types";
import { Card, ErrorBanner, Notice, Spinner } from "../components/ui";
import { Legend, RangePicker, Tile } from "../functions/MetricsCard";
import { TimeChart, type ChartSeries } from "../functions/TimeChart";
import {
  DEFAULT_METRICS_RANGE,
  OUTCOMES,
  RANGE_WORDS,
  formatMillicores,
  formatShare,
  formatStep,
  heldSteps,
  rangesFor,
  stackedCalls,
  timestamps,
  totalCalls,
  type MetricsRange,
} from "../functions/metrics";
import {
  activeTenantPoints,
  cpuRequestColumns,
  functionCalls,
  hadPods,
  ofQuota,
  podColumns,
  quotaInView,
  tenantCalls,
  tenantErrors,
  topByCalls,
  topByErrors,
} from "./usage";

// bars are drawn from zero, so the stack is painted top first and each lower outcome over it
const CALL_SERIES: ChartSeries[] = [...OUTCOMES].reverse().map((o) => ({
  label: o.label,
  color: o.color,
  kind: "bars",
}));
// used as a solid step line, the quota as a dashed line: apart without colour too
const QUOTA_COLOR = "#D55E00";
const POD_SERIES: ChartSeries[] = [
  { label: "Pods", color: "#0072B2", kind: "step" },
  { label: "Quota", color: QUOTA_COLOR, kind: "step", dash: [6, 3] },
];
const CPU_SERIES: ChartSeries[] = [
  { label: "CPU requested", color: "#009E73", kind: "step" },
  { label: "Quota", color: QUOTA_COLOR, kind: "step", dash: [6, 3] },
];

/** A number for a y axis: at most 3 significant digits. */
const short = (v: number) => Number(v.toPrecision(3)).toString();

/** The legend of a chart drawn against a quota: the quota's line, or where the quota is. */
function quotaLegend(
  series: ChartSeries[],
  peak: number,
  hard: number,
  hardText: string,
): { label: string; color: string }[] {
  const [used, quota] = series as [ChartSeries, ChartSeries];
  if (hard <= 0) return [used];
  if (quotaInView(peak, hard)) return [used, { label: `Quota ${hardText}`, color: quota.color }];
  return [used, { label: `Quota ${hardText}, above this scale`, color: quota.color }];
}

function Summary({ m }: { m: TenantMetrics }) {
  const calls = tenantCalls(m);
  const errors = tenantErrors(m);
  const podsPeak = Math.max(0, ...m.points.map((p) => p.pods));
  const cpuPeak = Math.max(0, ...m.points.map((p) => p.requestsCpuMillicores));
  return (
    <dl className="grid grid-cols-2 gap-2 sm:grid-cols-4" data-testid="usage-summary">
      <Tile label="Calls" testId="usage-calls">
        {calls.toLocaleString("en-US")}
      </Tile>
      <Tile label="Errors" testId="usage-errors">
        {calls === 0 ? "—" : `${errors.toLocaleString("en-US")} (${formatShare(errors / calls)})`}
      </Tile>
      <Tile label="Pods, most" testId="usage-pods">
        {ofQuota(String(podsPeak), m.quota.pods, String(m.quota.pods))}
      </Tile>
      <Tile label="CPU requested, most" testId="usage-cpu">
        {ofQuota(
          formatMillicores(cpuPeak),
          m.quota.requestsCpuMillicores,
          formatMillicores(m.quota.requestsCpuMillicores),
        )}
      </Tile>
    </dl>
  );
}

/** A ranked table of functions: name (a link to its page), `count`, error ratio. */
function Ranking({
  title,
  countLabel,
  count,
  rows,
  empty,
  testId,
}: {
  title: string;
  countLabel: string;
  count: (f: FunctionTotals) => number;
  rows: FunctionTotals[];
  empty: string;
  testId: string;
}) {
  const headingId = useId();
  return (
    <div className="min-w-0">
      <h3 id={headingId} className="text-sm font-medium text-slate-700">
        {title}
      </h3>
      {rows.length === 0 ? (
        <p className="mt-1 text-sm text-slate-500" data-testid={`${testId}-empty`}>
          {empty}
        </p>
      ) : (
        <table aria-labelledby={headingId} className="mt-1 w-full text-sm" data-testid={testId}>
          <thead>
            <tr className="border-b border-slate-200 text-left text-xs text-slate-500">
              <th scope="col" className="py-1 pr-2 font-medium">
                Function
              </th>
              <th scope="col" className="py-1 pr-2 text-right font-medium">
                {countLabel}
              </th>
              <th scope="col" className="py-1 text-right font-medium">
                Error ratio
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((f) => (
              <tr key={f.name} className="border-b border-slate-100 last:border-b-0">
                <th scope="row" className="max-w-0 truncate py-1 pr-2 text-left font-normal">
                  <Link
                    to={`/functions/${encodeURIComponent(f.name)}`}
                    className="font-mono text-indigo-700 hover:underline"
                    title={f.name}
                  >
                    {f.name}
                  </Link>
                </th>
                <td className="py-1 pr-2 text-right tabular-nums">
                  {count(f).toLocaleString("en-US")}
                </td>
                <td className="py-1 text-right tabular-nums">
                  {functionCalls(f) === 0 ? "—" : formatShare(f.errorRatio)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

/** The numbers behind the charts, for screen readers: each step with calls or pods. */
function PointsTable({ m, range }: { m: TenantMetrics; range: MetricsRange }) {
  const rows = activeTenantPoints(m.points);
  return (
    <div className="sr-only">
      <table data-testid="usage-table">
        <caption>
          Calls, pods and requested CPU of all functions per {formatStep(m.stepSeconds)} step in the
          last {RANGE_WORDS[range]}, steps with calls or pods only
        </caption>
        <thead>
          <tr>
            <th scope="col">Step start</th>
            {OUTCOMES.map((o) => (
              <th key={o.key} scope="col">
                {o.label}
              </th>
            ))}
            <th scope="col">Pods</th>
            <th scope="col">CPU requested</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((p) => (
            <tr key={p.at}>
              <th scope="row">{new Date(p.at).toLocaleString()}</th>
              {OUTCOMES.map((o) => (
                <td key={o.key}>{p.calls[o.key]}</td>
              ))}
              <td>{p.pods}</td>
              <td>{formatMillicores(p.requestsCpuMillicores)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Charts({ m, range }: { m: TenantMetrics; range: MetricsRange }) {
  const syncKey = useId();
  const { calls, pods, cpu, xRange } = useMemo(() => {
    const x = timestamps(m.points);
    const first = x[0] ?? 0;
    const last = (x[x.length - 1] ?? first) + m.stepSeconds;
    return {
      calls: [x, ...[...stackedCalls(m.points)].reverse()],
      pods: heldSteps(x, podColumns(m.points, m.quota), m.stepSeconds),
      cpu: heldSteps(x, cpuRequestColumns(m.points, m.quota), m.stepSeconds),
      xRange: [first, last] as [number, number],
    };
  }, [m]);
  const step = formatStep(m.stepSeconds);
  const words = RANGE_WORDS[range];
  const total = tenantCalls(m);
  const peak = Math.max(0, ...m.points.map((p) => totalCalls(p.calls)));
  const podsPeak = Math.max(0, ...m.points.map((p) => p.pods));
  const cpuPeak = Math.max(0, ...m.points.map((p) => p.requestsCpuMillicores));
  const podQuota = m.quota.pods > 0 ? `, against a quota of ${m.quota.pods}` : "";
  const cpuQuota =
    m.quota.requestsCpuMillicores > 0
      ? `, against a quota of ${formatMillicores(m.quota.requestsCpuMillicores)}`
      : "";
  const byCalls = topByCalls(m.functions);
  const byErrors = topByErrors(m.functions);

  return (
    <div className="mt-4 space-y-4">
      {total === 0 ? (
        <div data-testid="usage-empty">
          <Notice>
            No calls in the last {words}. Invoke a function and its calls appear here within 10
            seconds, with the functions called most and those answering errors.
          </Notice>
        </div>
      ) : (
        <>
          <div>
            <h3 className="text-sm font-medium text-slate-700">Calls per {step}, all functions</h3>
            <TimeChart
              testId="usage-chart-calls"
              label={`Calls of all functions per ${step} step, stacked by outcome: ${total} in the last ${words}, at most ${peak} in one step. The table that follows gives each step.`}
              series={CALL_SERIES}
              data={calls}
              xRange={xRange}
              syncKey={syncKey}
            />
            <Legend
              label="Outcomes"
              items={OUTCOMES.map((o) => ({ label: o.label, color: o.color }))}
            />
          </div>
          <div className="grid grid-cols-1 gap-4 sm:grid-cols-2">
            <Ranking
              title="Most calls"
              countLabel="Calls"
              count={functionCalls}
              rows={byCalls}
              empty={`No calls in the last ${words}.`}
              testId="usage-top-calls"
            />
            <Ranking
              title="Most errors (5xx, 503, 504)"
              countLabel="Errors"
              count={(f) => f.errors}
              rows={byErrors}
              empty={`No errors in the last ${words}.`}
              testId="usage-top-errors"
            />
          </div>
        </>
      )}
      {hadPods(m.points) ? (
        <div className="grid grid-cols-1 gap-4 lg:grid-cols-2">
          <div className="min-w-0">
            <h3 className="text-sm font-medium text-slate-700">Pods</h3>
            <TimeChart
              testId="usage-chart-pods"
              label={`Pods of all functions per ${step} step, the most asked for: at most ${podsPeak} in the last ${words}${podQuota}.`}
              series={POD_SERIES}
              data={pods}
              xRange={xRange}
              height={110}
              syncKey={syncKey}
              integerY
            />
            <Legend
              label="Pods and quota"
              items={quotaLegend(POD_SERIES, podsPeak, m.quota.pods, String(m.quota.pods))}
            />
          </div>
          <div className="min-w-0">
            <h3 className="text-sm font-medium text-slate-700">CPU requested, cores</h3>
            <TimeChart
              testId="usage-chart-cpu"
              label={`CPU requested by those pods per ${step} step: at most ${formatMillicores(cpuPeak)} in the last ${words}${cpuQuota}.`}
              series={CPU_SERIES}
              data={cpu}
              xRange={xRange}
              height={110}
              syncKey={syncKey}
              yFormat={(v) => short(v / 1000)}
            />
            <Legend
              label="CPU and quota"
              items={quotaLegend(
                CPU_SERIES,
                cpuPeak,
                m.quota.requestsCpuMillicores,
                formatMillicores(m.quota.requestsCpuMillicores),
              )}
            />
          </div>
        </div>
      ) : (
        <p className="text-xs text-slate-500" data-testid="usage-no-pods">
          No pods ran in the last {words}. When a function has replicas, its pods and the CPU they
          request appear here against the quota.
        </p>
      )}
      <PointsTable m={m} range={range} />
    </div>
  );
}

/**
 * The tenant's usage over a chosen range, from GET /v1/metrics, refetched
 * every 10 s while the page is visible: totals, calls of all functions by
 * outcome, the functions called most and answering most errors, and pods and
 * requested CPU against the quota, on one time axis.
 */
export function TenantUsage({ className = "" }: { className?: string }) {
  const [range, setRange] = useState<MetricsRange>(DEFAULT_METRICS_RANGE);
  const q = useTenantMetrics(range);
  const m = q.data;
  const ranges = rangesFor(m?.backend);
  const switching = q.isPlaceholderData;

  let body: ReactNode;
  if (q.isPending) {
    body = <Spinner label="Loading usage…" />;
  } else if (q.isError) {
    body = (
      <ErrorBanner title="Could not load usage" error={q.error} onRetry={() => void q.refetch()} />
    );
  } else if (m) {
    body = (
      <div
        aria-busy={switching}
        className={switching ? "opacity-60 transition-opacity" : undefined}
      >
        <Summary m={m} />
        <Charts m={m} range={range} />
        <p className="mt-3 text-xs text-slate-500" data-testid="usage-footer">
          {formatStep(m.stepSeconds)} steps · {m.functions.length}{" "}
          {m.functions.length === 1 ? "function" : "functions"}
          {m.quota.functions > 0 && ` of ${m.quota.functions}`} · refreshed every 10 s
        </p>
      </div>
    );
  }

  return (
    <Card
      title="Usage"
      className={className}
      actions={
        <RangePicker value={range} onChange={setRange} ranges={ranges} testId="usage-range" />
      }
    >
      {switching && (
        <p role="status" className="sr-only">
          Loading the last {RANGE_WORDS[range]}…
        </p>
      )}
      {body}
    </Card>
  );
}
