import { describe, expect, it } from "vitest";
import { metricsPoint, sampleMetrics } from "../test/utils";
import {
  activePoints,
  coldStartColumn,
  columnMax,
  cpuColumn,
  formatBytes,
  formatCores,
  formatMillicores,
  hasResourceUsage,
  heldSteps,
  memoryColumn,
  rangesFor,
  replicaColumns,
  errorShare,
  formatMs,
  formatRate,
  formatShare,
  formatStep,
  isEmpty,
  latencyColumns,
  OUTCOMES,
  stackedCalls,
  timestamps,
  totalCalls,
} from "./metrics";

const calls = (c: Partial<Record<"2xx" | "4xx" | "5xx" | 429 | 503 | 504, number>>) => ({
  "2xx": 0,
  "4xx": 0,
  "5xx": 0,
  429: 0,
  503: 0,
  504: 0,
  ...c,
});

const points = [
  metricsPoint("2026-12-02T04:00:00.000Z", {
    calls: calls({ "2xx": 5, "4xx": 1, 504: 2 }),
    latencyMs: { p50: 3.1, p95: 4.8, p99: 4.96 },
    coldStarts: 1,
  }),
  metricsPoint("2026-12-02T04:00:10.000Z"),
  metricsPoint("2026-12-02T04:00:20.000Z", {
    calls: calls({ "2xx": 1, 429: 3, 503: 1, "5xx": 2 }),
    latencyMs: { p50: 10, p95: 20, p99: 30 },
  }),
];

describe("metrics data shaping", () => {
  it("turns step starts into uPlot's x column in seconds", () => {
    const start = Date.UTC(2026, 11, 2, 4, 0) / 1000;
    expect(timestamps(points)).toEqual([start, start + 10, start + 20]);
  });

  it("stacks calls by outcome in OUTCOMES order, the last column the step's total", () => {
    expect(OUTCOMES.map((o) => o.name)).toEqual(["2xx", "4xx", "429", "5xx", "503", "504"]);
    expect(stackedCalls(points)).toEqual([
      [5, 0, 1],
      [6, 0, 1],
      [6, 0, 4],
      [6, 0, 6],
      [6, 0, 7],
      [8, 0, 7],
    ]);
    expect(stackedCalls([])).toEqual([[], [], [], [], [], []]);
  });

  it("gives latency columns with gaps where a step had no calls, and cold starts", () => {
    expect(latencyColumns(points)).toEqual([
      [3.1, null, 10],
      [4.8, null, 20],
      [4.96, null, 30],
    ]);
    expect(coldStartColumn(points)).toEqual([1, 0, 0]);
  });

  it("counts errors as 4xx, 5xx, 503 and 504 over all calls (429 counted in all only)", () => {
    expect(totalCalls(calls({ "2xx": 5, 429: 3 }))).toBe(8);
    expect(errorShare(calls({ "2xx": 4, 429: 1, "4xx": 1, "5xx": 1, 503: 1, 504: 2 }))).toBe(0.5);
    expect(errorShare(calls({ "2xx": 3, 429: 1 }))).toBe(0);
    expect(errorShare(calls({}))).toBeNull();
  });

  it("formats shares, milliseconds, rates and steps", () => {
    expect(formatShare(null)).toBe("—");
    expect(formatShare(0)).toBe("0%");
    expect(formatShare(0.0004)).toBe("<0.1%");
    expect(formatShare(0.0123)).toBe("1.2%");
    expect(formatShare(0.5)).toBe("50%");
    expect(formatShare(1)).toBe("100%");
    expect(formatMs(null)).toBe("—");
    expect(formatMs(undefined)).toBe("—");
    expect(formatMs(0.423)).toBe("0.42 ms");
    expect(formatMs(4.96)).toBe("5.0 ms");
    expect(formatMs(48.4)).toBe("48 ms");
    expect(formatMs(1234)).toBe("1.2 s");
    expect(formatMs(12_600)).toBe("13 s");
    expect(formatRate(0)).toBe("0");
    expect(formatRate(0.00555)).toBe("0.00555");
    expect(formatRate(0.5)).toBe("0.5");
    expect(formatRate(12.345)).toBe("12.3");
    expect(formatRate(1234.4)).toBe("1,234");
    expect(formatStep(10)).toBe("10 s");
    expect(formatStep(300)).toBe("5 min");
    expect(formatStep(3600)).toBe("1 h");
  });

  it("tells an empty range and keeps only the steps with calls or cold starts for the table", () => {
    expect(isEmpty(sampleMetrics())).toBe(true);
    expect(isEmpty(sampleMetrics(points))).toBe(false);
    expect(activePoints(points).map((p) => p.at)).toEqual([
      "2026-12-02T04:00:00.000Z",
      "2026-12-02T04:00:20.000Z",
    ]);
    expect(
      activePoints([metricsPoint("2026-12-02T04:00:00.000Z", { coldStarts: 1 })]),
    ).toHaveLength(1);
  });
});

describe("replicas, CPU and memory", () => {
  const pts = [
    metricsPoint("2026-12-02T04:00:00.000Z", { replicas: 2, readyReplicas: 1 }),
    metricsPoint("2026-12-02T04:00:10.000Z", {
      replicas: 2,
      readyReplicas: 2,
      cpuCores: 0.012,
      memoryBytes: 50_331_648,
    }),
  ];

  it("gives ready and asked-for replicas as two columns", () => {
    expect(replicaColumns(pts)).toEqual([
      [1, 2],
      [2, 2],
    ]);
  });

  it("takes the status now as a floor for the step in progress", () => {
    const unsampled = [
      pts[0]!,
      metricsPoint("2026-12-02T04:00:20.000Z", { replicas: 0, readyReplicas: 0 }),
    ];
    expect(replicaColumns(unsampled, { replicas: 2, readyReplicas: 1 })).toEqual([
      [1, 1],
      [2, 2],
    ]);
    expect(replicaColumns([], { replicas: 2, readyReplicas: 1 })).toEqual([[], []]);
  });

  it("holds a step line's last value to the end of its step", () => {
    expect(
      heldSteps(
        [0, 10],
        [
          [1, 2],
          [null, 3],
        ],
        10,
      ),
    ).toEqual([
      [0, 10, 20],
      [1, 2, 2],
      [null, 3, 3],
    ]);
    expect(heldSteps([], [[]], 10)).toEqual([[], []]);
  });

  it("gives CPU and memory with gaps where unknown, and knows when any is known", () => {
    expect(cpuColumn(pts)).toEqual([null, 0.012]);
    expect(memoryColumn(pts)).toEqual([null, 50_331_648]);
    expect(columnMax(cpuColumn(pts))).toBe(0.012);
    expect(columnMax([null, null])).toBe(0);
    expect(hasResourceUsage(pts)).toBe(true);
    expect(hasResourceUsage(pts.slice(0, 1))).toBe(false);
  });

  it("formats cores, millicores and bytes", () => {
    expect(formatCores(null)).toBe("—");
    expect(formatCores(0)).toBe("0");
    expect(formatCores(0.012)).toBe("12m");
    expect(formatCores(0.2505)).toBe("251m");
    expect(formatCores(1.25)).toBe("1.25 cores");
    expect(formatMillicores(250)).toBe("250m");
    expect(formatMillicores(10_000)).toBe("10 cores");
    expect(formatBytes(undefined)).toBe("—");
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(12 * 1024)).toBe("12 KiB");
    expect(formatBytes(50_331_648)).toBe("48 MiB");
    expect(formatBytes(1.5 * 1024 ** 3)).toBe("1.5 GiB");
    expect(formatBytes(200 * 1024 ** 2)).toBe("200 MiB");
  });

  it("offers 7 days only from Prometheus", () => {
    expect(rangesFor(undefined)).toEqual(["15m", "1h", "6h", "24h"]);
    expect(rangesFor("embedded")).toEqual(["15m", "1h", "6h", "24h"]);
    expect(rangesFor("prometheus")).toEqual(["15m", "1h", "6h", "24h", "7d"]);
  });
});
