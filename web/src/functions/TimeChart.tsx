import { useEffect, useLayoutEffect, useRef, useState } from "react";
import type uPlot from "uplot";

/** One drawn series of a TimeChart. */
export interface ChartSeries {
  label: string;
  color: string;
  /** bars from zero, a line through each point, or a step line (a value held over its step) */
  kind: "bars" | "line" | "step";
  dash?: readonly number[];
}

/** Whole-number y ticks, for counts that cannot be fractions (replicas, pods). */
const INTEGER_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000];

type UPlotCtor = typeof uPlot;

/**
 * Whether this browser can draw uPlot's canvas: jsdom (the unit tests) has
 * neither `matchMedia`, which uPlot calls when it loads, nor a 2D context.
 */
function canDrawCharts(): boolean {
  return typeof window !== "undefined" && typeof window.matchMedia === "function";
}

let loading: Promise<UPlotCtor> | null = null;
/** uPlot and its stylesheet, loaded once, in their own chunk, when a chart is first drawn. */
function loadUPlot(): Promise<UPlotCtor> {
  loading ??= Promise.all([import("uplot"), import("uplot/dist/uPlot.min.css")]).then(
    ([m]) => m.default,
  );
  return loading;
}

/**
 * A time-series chart drawn with uPlot, as wide as its container (followed
 * with ResizeObserver where there is one). `data` is uPlot's columns: x in
 * seconds, then one column per series. Charts with the same `syncKey` move
 * their cursors together; `xRange` pins the shared time axis. The canvas is
 * hidden from assistive technology behind `label`; the card gives the numbers
 * in a table. Where it cannot draw (jsdom), it renders the labelled box only.
 */
export function TimeChart({
  label,
  series,
  data,
  xRange,
  height = 140,
  syncKey,
  yFormat,
  integerY = false,
  testId,
}: {
  label: string;
  series: readonly ChartSeries[];
  data: (number | null)[][];
  xRange: [number, number];
  height?: number;
  syncKey: string;
  yFormat?: (v: number) => string;
  /** only whole numbers on the y axis */
  integerY?: boolean;
  testId?: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const [lib, setLib] = useState<UPlotCtor | null>(null);
  const [width, setWidth] = useState(0);
  const latest = useRef({ data, xRange, yFormat });
  useLayoutEffect(() => {
    latest.current = { data, xRange, yFormat };
  });

  useEffect(() => {
    if (!canDrawCharts()) return;
    let live = true;
    void loadUPlot().then((ctor) => live && setLib(() => ctor));
    return () => {
      live = false;
    };
  }, []);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    setWidth(el.clientWidth);
    if (typeof ResizeObserver === "undefined") return;
    const ro = new ResizeObserver((entries) => {
      const w = entries[0]?.contentRect.width;
      if (w !== undefined) setWidth(Math.floor(w));
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const seriesKey = series.map((s) => `${s.label}/${s.color}/${s.kind}`).join(",");
  const ready = lib !== null && width > 0;

  useEffect(() => {
    const el = box.current;
    if (!lib || !el || !ready) return;
    const bars = lib.paths.bars?.({ size: [0.9, 40], align: 1 });
    const stepped = lib.paths.stepped?.({ align: 1 });
    const opts: uPlot.Options = {
      width: el.clientWidth,
      height,
      legend: { show: false },
      cursor: { sync: { key: syncKey }, drag: { x: false, y: false } },
      scales: {
        x: { time: true, range: () => latest.current.xRange },
        y: { range: (_u, _min, max) => [0, Math.max(max, 1) * 1.05] },
      },
      axes: [
        { stroke: "#475569", grid: { stroke: "#f1f5f9" }, ticks: { stroke: "#e2e8f0" } },
        {
          stroke: "#475569",
          grid: { stroke: "#f1f5f9" },
          ticks: { stroke: "#e2e8f0" },
          size: 64,
          ...(integerY ? { incrs: INTEGER_INCRS } : {}),
          values: (_u, splits) =>
            splits.map((v) => (latest.current.yFormat ? latest.current.yFormat(v) : String(v))),
        },
      ],
      series: [
        {},
        ...series.map((s): uPlot.Series =>
          s.kind === "bars"
            ? {
                label: s.label,
                stroke: s.color,
                fill: s.color,
                width: 0,
                paths: bars,
                points: { show: false },
              }
            : {
                label: s.label,
                stroke: s.color,
                width: 2,
                dash: s.dash ? [...s.dash] : undefined,
                ...(s.kind === "step"
                  ? { paths: stepped, points: { show: false } }
                  : { points: { show: true, size: 4, fill: s.color } }),
              },
        ),
      ],
    };
    const u = new lib(opts, latest.current.data as uPlot.AlignedData, el);
    plot.current = u;
    return () => {
      u.destroy();
      plot.current = null;
    };
    // the chart is rebuilt when its series or library change; data and size are set below
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [lib, ready, seriesKey, height, syncKey, integerY]);

  useEffect(() => {
    plot.current?.setData(data as uPlot.AlignedData);
  }, [data, xRange]);

  useEffect(() => {
    if (width > 0) plot.current?.setSize({ width, height });
  }, [width, height]);

  return (
    <div
      ref={box}
      role="img"
      aria-label={label}
      data-testid={testId}
      className="w-full min-w-0 overflow-hidden"
      style={{ minHeight: height }}
    />
  );
}
