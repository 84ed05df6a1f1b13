import { useId, useMemo, useState, type ReactNode } from "react";
import { useFunctionMetrics } from "../api/queries";
import type { FunctionMetrics } from "../api/types";
import { Card, ErrorBanner, Notice, Spinner } from "../components/ui";
import { TimeChart, type ChartSeries } from "./TimeChart";
import {
  COLD_START_COLOR,
  DEFAULT_METRICS_RANGE,
  LATENCY_LINES,
  OUTCOMES,
  RANGE_LABELS,
  RANGE_WORDS,
  REPLICA_LINES,
  activePoints,
  coldStartColumn,
  columnMax,
  cpuColumn,
  errorShare,
  formatBytes,
  formatCores,
  formatMs,
  formatRate,
  formatShare,
  formatStep,
  hasResourceUsage,
  heldSteps,
  isEmpty,
  latencyColumns,
  memoryColumn,
  rangesFor,
  replicaColumns,
  stackedCalls,
  timestamps,
  totalCalls,
  type MetricsRange,
} from "./metrics";

/** The range buttons: `ranges` as a group of toggle buttons, `value` pressed. */
export function RangePicker({
  value,
  onChange,
  ranges,
  testId = "metrics-range",
}: {
  value: MetricsRange;
  onChange: (r: MetricsRange) => void;
  ranges: readonly MetricsRange[];
  testId?: string;
}) {
  return (
    <div
      role="group"
      aria-label="Time range"
      className="inline-flex overflow-hidden rounded-md border border-slate-300"
      data-testid={testId}
    >
      {ranges.map((r) => (
        <button
          key={r}
          type="button"
          aria-pressed={r === value}
          onClick={() => onChange(r)}
          className={`border-l border-slate-300 px-2.5 py-1 text-xs font-medium first:border-l-0 focus-visible:relative ${
            r === value ? "bg-indigo-600 text-white" : "bg-white text-slate-700 hover:bg-slate-50"
          }`}
        >
          {RANGE_LABELS[r]}
        </button>
      ))}
    </div>
  );
}

export function Tile({
  label,
  children,
  testId,
}: {
  label: string;
  children: ReactNode;
  testId: string;
}) {
  return (
    <div className="min-w-0 rounded-md bg-slate-50 px-3 py-2">
      <dt className="text-xs tracking-wide text-slate-500 uppercase">{label}</dt>
      <dd
        className="mt-1 text-sm font-semibold break-words text-slate-900 tabular-nums"
        data-testid={testId}
      >
        {children}
      </dd>
    </div>
  );
}

export function Legend({
  items,
  label,
}: {
  items: { label: string; color: string }[];
  label: string;
}) {
  return (
    <ul aria-label={label} className="mt-1 flex flex-wrap gap-x-3 gap-y-1 text-xs text-slate-600">
      {items.map((i) => (
        <li key={i.label} className="flex items-center gap-1">
          <span
            aria-hidden="true"
            className="inline-block h-2.5 w-2.5 rounded-sm"
            style={{ backgroundColor: i.color }}
          />
          {i.label}
        </li>
      ))}
    </ul>
  );
}

function Summary({ m }: { m: FunctionMetrics }) {
  const s = m.summary;
  const outcomes = OUTCOMES.filter((o) => s.calls[o.key] > 0);
  return (
    <dl className="grid grid-cols-2 gap-2 sm:grid-cols-5" data-testid="metrics-summary">
      <Tile label="Calls" testId="metrics-calls">
        {totalCalls(s.calls).toLocaleString("en-US")}
        {outcomes.length > 0 && (
          <span className="block text-xs font-normal text-slate-600">
            {outcomes.map((o, i) => (
              <span key={o.key} data-testid={`metrics-calls-${o.name}`}>
                {i > 0 && " · "}
                {o.name} {s.calls[o.key].toLocaleString("en-US")}
              </span>
            ))}
          </span>
        )}
      </Tile>
      <Tile label="Calls/s" testId="metrics-rate">
        {/* from the counts: the server rounds its rate, which shows 0 for a few calls in a day */}
        {formatRate(m.rangeSeconds > 0 ? totalCalls(s.calls) / m.rangeSeconds : s.callsPerSecond)}
        {/* only the embedded store knows it; Prometheus answers null */}
        {s.inFlightMax != null && s.inFlightMax > 0 && (
          <span
            className="block text-xs font-normal text-slate-600"
            data-testid="metrics-in-flight"
          >
            at most {s.inFlightMax} in flight
          </span>
        )}
      </Tile>
      <Tile label="Errors" testId="metrics-errors">
        {formatShare(errorShare(s.calls))}
      </Tile>
      <Tile label="Latency" testId="metrics-latency">
        {s.latencyMs ? (
          <span className="block text-xs font-normal text-slate-700">
            p50 <strong className="font-semibold">{formatMs(s.latencyMs.p50)}</strong>
            <br />
            p95 <strong className="font-semibold">{formatMs(s.latencyMs.p95)}</strong>
            <br />
            p99 <strong className="font-semibold">{formatMs(s.latencyMs.p99)}</strong>
          </span>
        ) : (
          "—"
        )}
      </Tile>
      <Tile label="Cold starts" testId="metrics-cold-starts">
        {s.coldStarts}
        {s.coldStartMsAvg != null && (
          <span className="block text-xs font-normal text-slate-600">
            avg {formatMs(s.coldStartMsAvg)}
          </span>
        )}
      </Tile>
    </dl>
  );
}

/** The numbers behind the charts, for screen readers: each step that had calls or cold starts. */
function PointsTable({ m, range }: { m: FunctionMetrics; range: MetricsRange }) {
  const rows = activePoints(m.points);
  const usage = hasResourceUsage(m.points);
  return (
    // sr-only on a wrapper: a table is as wide as its cells whatever its own width says
    <div className="sr-only">
      <table data-testid="metrics-table">
        <caption>
          Calls, latency, cold starts and replicas per {formatStep(m.stepSeconds)} step in the last{" "}
          {RANGE_WORDS[range]}, steps with calls only
        </caption>
        <thead>
          <tr>
            <th scope="col">Step start</th>
            {OUTCOMES.map((o) => (
              <th key={o.key} scope="col">
                {o.label}
              </th>
            ))}
            {LATENCY_LINES.map((l) => (
              <th key={l.key} scope="col">
                {l.label} latency
              </th>
            ))}
            <th scope="col">Cold starts</th>
            <th scope="col">Replicas asked for</th>
            <th scope="col">Ready replicas</th>
            {usage && <th scope="col">CPU</th>}
            {usage && <th scope="col">Memory</th>}
          </tr>
        </thead>
        <tbody>
          {rows.map((p) => (
            <tr key={p.at}>
              <th scope="row">{new Date(p.at).toLocaleString()}</th>
              {OUTCOMES.map((o) => (
                <td key={o.key}>{p.calls[o.key]}</td>
              ))}
              {LATENCY_LINES.map((l) => (
                <td key={l.key}>{formatMs(p.latencyMs?.[l.key])}</td>
              ))}
              <td>{p.coldStarts}</td>
              <td>{p.replicas}</td>
              <td>{p.readyReplicas}</td>
              {usage && <td>{formatCores(p.cpuCores)}</td>}
              {usage && <td>{formatBytes(p.memoryBytes)}</td>}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

// bars are drawn from zero, so the stack is painted top first and each lower outcome over it
const CALL_SERIES: ChartSeries[] = [...OUTCOMES].reverse().map((o) => ({
  label: o.label,
  color: o.color,
  kind: "bars",
}));
const LATENCY_SERIES: ChartSeries[] = LATENCY_LINES.map((l) => ({
  label: l.label,
  color: l.color,
  kind: "line",
  dash: l.dash,
}));
const COLD_SERIES: ChartSeries[] = [
  { label: "Cold starts", color: COLD_START_COLOR, kind: "bars" },
];
const REPLICA_SERIES: ChartSeries[] = REPLICA_LINES.map((l) => ({
  label: l.label,
  color: l.color,
  kind: "step",
  dash: l.dash,
}));
const CPU_SERIES: ChartSeries[] = [{ label: "CPU", color: "#0072B2", kind: "line" }];
const MEMORY_SERIES: ChartSeries[] = [{ label: "Memory", color: "#D55E00", kind: "line" }];

/** Ready replica-seconds in words: 900 s, 2.5 h. */
function formatReplicaSeconds(s: number): string {
  if (s < 3600) return `${Math.round(s).toLocaleString("en-US")} s`;
  return `${Number((s / 3600).toPrecision(3)).toString()} h`;
}

function Charts({
  m,
  range,
  withCalls,
}: {
  m: FunctionMetrics;
  range: MetricsRange;
  /** the calls, latency and cold-start charts (not in an empty range) */
  withCalls: boolean;
}) {
  const syncKey = useId();
  const { calls, latency, cold, replicas, cpu, memory, xRange } = useMemo(() => {
    const x = timestamps(m.points);
    const first = x[0] ?? 0;
    const last = (x[x.length - 1] ?? first) + m.stepSeconds;
    return {
      calls: [x, ...[...stackedCalls(m.points)].reverse()],
      latency: [x, ...latencyColumns(m.points)],
      cold: [x, coldStartColumn(m.points)],
      replicas: heldSteps(x, replicaColumns(m.points, m), m.stepSeconds),
      cpu: [x, cpuColumn(m.points)],
      memory: [x, memoryColumn(m.points)],
      xRange: [first, last] as [number, number],
    };
  }, [m]);
  const step = formatStep(m.stepSeconds);
  const words = RANGE_WORDS[range];
  const s = m.summary;
  const peak = Math.max(0, ...m.points.map((p) => totalCalls(p.calls)));
  const p99Peak = Math.max(0, ...m.points.map((p) => p.latencyMs?.p99 ?? 0));
  const askedPeak = Math.max(0, ...m.points.map((p) => p.replicas));
  const readyPeak = Math.max(0, ...m.points.map((p) => p.readyReplicas));
  const usage = hasResourceUsage(m.points);
  return (
    <div className="mt-4 space-y-4">
      {withCalls && (
        <>
          <div>
            <h3 className="text-sm font-medium text-slate-700">Calls per {step}</h3>
            <TimeChart
              testId="metrics-chart-calls"
              label={`Calls per ${step} step, stacked by outcome: ${totalCalls(s.calls)} in the last ${words}, at most ${peak} in one step. The table that follows gives each step.`}
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
          <div>
            <h3 className="text-sm font-medium text-slate-700">Latency</h3>
            <TimeChart
              testId="metrics-chart-latency"
              label={`Latency per ${step} step: p50 ${formatMs(s.latencyMs?.p50)}, p95 ${formatMs(s.latencyMs?.p95)}, p99 ${formatMs(s.latencyMs?.p99)} over the last ${words}; the highest p99 of a step ${formatMs(p99Peak)}.`}
              series={LATENCY_SERIES}
              data={latency}
              xRange={xRange}
              syncKey={syncKey}
              yFormat={(v) => (v === 0 ? "0" : formatMs(v))}
            />
            <Legend label="Percentiles" items={LATENCY_SERIES} />
          </div>
          <div>
            <h3 className="text-sm font-medium text-slate-700">Cold starts</h3>
            <TimeChart
              testId="metrics-chart-cold-starts"
              label={`Cold starts per ${step} step: ${s.coldStarts} in the last ${words}.`}
              series={COLD_SERIES}
              data={cold}
              xRange={xRange}
              height={80}
              syncKey={syncKey}
            />
          </div>
        </>
      )}
      <div>
        <h3 className="text-sm font-medium text-slate-700">Replicas</h3>
        <TimeChart
          testId="metrics-chart-replicas"
          label={`Replicas per ${step} step, the most asked for and the most ready: asked for at most ${askedPeak}, ready at most ${readyPeak} in the last ${words}; ${m.readyReplicas} of ${m.replicas} ready now; ${formatReplicaSeconds(s.replicaSeconds)} of ready replicas.`}
          series={REPLICA_SERIES}
          data={replicas}
          xRange={xRange}
          height={100}
          syncKey={syncKey}
          integerY
        />
        <Legend label="Replicas" items={REPLICA_SERIES} />
      </div>
      {usage ? (
        <>
          <div>
            <h3 className="text-sm font-medium text-slate-700">CPU, cores</h3>
            <TimeChart
              testId="metrics-chart-cpu"
              label={`CPU of the function's pods, mean per ${step} step: at most ${formatCores(columnMax(cpu[1] ?? []))} in the last ${words}.`}
              series={CPU_SERIES}
              data={cpu}
              xRange={xRange}
              height={100}
              syncKey={syncKey}
              yFormat={(v) => Number(v.toPrecision(3)).toString()}
            />
          </div>
          <div>
            <h3 className="text-sm font-medium text-slate-700">Memory</h3>
            <TimeChart
              testId="metrics-chart-memory"
              label={`Working-set memory of the function's pods, the most per ${step} step: at most ${formatBytes(columnMax(memory[1] ?? []))} in the last ${words}.`}
              series={MEMORY_SERIES}
              data={memory}
              xRange={xRange}
              height={100}
              syncKey={syncKey}
              yFormat={(v) => formatBytes(v)}
            />
          </div>
        </>
      ) : (
        <p className="text-xs text-slate-500" data-testid="metrics-no-usage">
          CPU and memory appear here when the platform&apos;s metrics come from Prometheus scraping
          the nodes.
        </p>
      )}
      {withCalls && <PointsTable m={m} range={range} />}
    </div>
  );
}

/**
 * The function's calls, latency, cold starts and replicas (CPU and memory
 * where Prometheus knows them) over a chosen range, from
 * GET /v1/functions/{name}/metrics, refetched every 10 s: summary tiles, then
 * charts on one time axis (with a hidden table of the numbers).
 */
export function MetricsCard({ name }: { name: string }) {
  const [range, setRange] = useState<MetricsRange>(DEFAULT_METRICS_RANGE);
  const q = useFunctionMetrics(name, range);
  const m = q.data;
  // 7 days only where the last answer came from Prometheus
  const ranges = rangesFor(m?.backend);
  // while another range loads, the last one stays on screen, dimmed
  const switching = q.isPlaceholderData;

  let body: ReactNode;
  if (q.isPending) {
    body = <Spinner label="Loading metrics…" />;
  } else if (q.isError) {
    body = (
      <ErrorBanner
        title="Could not load metrics"
        error={q.error}
        onRetry={() => void q.refetch()}
      />
    );
  } else if (m) {
    body = (
      <div
        aria-busy={switching}
        className={switching ? "opacity-60 transition-opacity" : undefined}
      >
        <Summary m={m} />
        {isEmpty(m) ? (
          <>
            <div className="mt-4" data-testid="metrics-empty">
              <Notice>
                No invocations in the last {RANGE_WORDS[range]}. Calls through the gateway appear
                here within 10 seconds;{" "}
                {m.backend === "prometheus"
                  ? "they are read from Prometheus, which keeps up to 7 days."
                  : "this server keeps 10-second points for an hour and 5-minute points for a day (each server replica counts its own calls)."}
              </Notice>
            </div>
            {m.points.some((p) => p.replicas > 0 || p.readyReplicas > 0) && (
              <Charts m={m} range={range} withCalls={false} />
            )}
          </>
        ) : (
          <Charts m={m} range={range} withCalls />
        )}
        <p className="mt-3 text-xs text-slate-500" data-testid="metrics-footer">
          {formatStep(m.stepSeconds)} steps · {m.readyReplicas}/{m.replicas} replicas ready
        </p>
      </div>
    );
  }

  return (
    <Card
      title="Metrics"
      actions={<RangePicker value={range} onChange={setRange} ranges={ranges} />}
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
