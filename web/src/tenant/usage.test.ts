import { describe, expect, it } from "vitest";
import { functionTotals, sampleTenantMetrics, tenantPoint } from "../test/utils";
import {
  activeTenantPoints,
  cpuRequestColumns,
  hadPods,
  ofQuota,
  podColumns,
  quotaInView,
  tenantCalls,
  unsampledTail,
  tenantErrors,
  topByCalls,
  topByErrors,
} from "./usage";

const calls = (c: Partial<Record<"2xx" | "4xx" | "5xx" | 429 | 503 | 504, number>>) => ({
  "2xx": 0,
  "4xx": 0,
  "5xx": 0,
  429: 0,
  503: 0,
  504: 0,
  ...c,
});

const fns = [
  functionTotals("idle"),
  functionTotals("api", { calls: calls({ "2xx": 90, "5xx": 10 }), errors: 10, errorRatio: 0.1 }),
  functionTotals("web", { calls: calls({ "2xx": 100 }) }),
  functionTotals("flaky", { calls: calls({ "2xx": 5, 503: 5 }), errors: 5, errorRatio: 0.5 }),
  functionTotals("slow", { calls: calls({ 504: 10 }), errors: 10, errorRatio: 1 }),
  functionTotals("bad", { calls: calls({ "4xx": 3 }) }),
];

describe("tenant usage shaping", () => {
  it("ranks called functions by calls, then name, and leaves out the idle ones", () => {
    expect(topByCalls(fns).map((f) => f.name)).toEqual(["api", "web", "flaky", "slow", "bad"]);
    expect(topByCalls(fns, 2).map((f) => f.name)).toEqual(["api", "web"]);
    expect(topByCalls([functionTotals("idle")])).toEqual([]);
  });

  it("ranks functions by errors, then ratio, and leaves out those without (4xx is not one)", () => {
    expect(topByErrors(fns).map((f) => f.name)).toEqual(["slow", "api", "flaky"]);
  });

  it("does not reorder the server's list in place", () => {
    const copy = [...fns];
    topByCalls(fns);
    topByErrors(fns);
    expect(fns).toEqual(copy);
  });

  it("draws pods and requested CPU against the quota when the usage is near it", () => {
    const points = [
      tenantPoint("2026-12-02T04:00:00.000Z", { pods: 1, requestsCpuMillicores: 100 }),
      tenantPoint("2026-12-02T04:00:10.000Z", { pods: 3, requestsCpuMillicores: 300 }),
    ];
    const m = sampleTenantMetrics(points);
    const near = { ...m.quota, pods: 12, requestsCpuMillicores: 1000 };
    expect(podColumns(points, near)).toEqual([
      [1, 3],
      [12, 12],
    ]);
    expect(cpuRequestColumns(points, near)).toEqual([
      [100, 300],
      [1000, 1000],
    ]);
    // far below it (3 of 50 pods, 300m of 10 cores), or without a quota: no line
    expect(podColumns(points, m.quota)[1]).toEqual([null, null]);
    expect(cpuRequestColumns(points, m.quota)[1]).toEqual([null, null]);
    expect(podColumns(points, { ...m.quota, pods: 0 })[1]).toEqual([null, null]);
    expect(quotaInView(3, 12)).toBe(true);
    expect(quotaInView(3, 13)).toBe(false);
    expect(quotaInView(3, 0)).toBe(false);
    expect(hadPods(points)).toBe(true);
    expect(hadPods(sampleTenantMetrics().points)).toBe(false);
  });

  it("leaves the step in progress out while it has no replica sample yet", () => {
    const points = [
      tenantPoint("2026-12-02T04:00:00.000Z", {
        pods: 1,
        readyReplicasAvg: 1,
        requestsCpuMillicores: 100,
      }),
      tenantPoint("2026-12-02T04:00:10.000Z"),
    ];
    const m = sampleTenantMetrics(points);
    expect(unsampledTail(points)).toBe(true);
    expect(podColumns(points, m.quota)[0]).toEqual([1, null]);
    expect(cpuRequestColumns(points, m.quota)[0]).toEqual([100, null]);
    // sampled at zero (scaled down: ready replicas on average above 0), or zero all along
    const down = [points[0]!, tenantPoint("2026-12-02T04:00:10.000Z", { readyReplicasAvg: 0.5 })];
    expect(unsampledTail(down)).toBe(false);
    expect(podColumns(down, m.quota)[0]).toEqual([1, 0]);
    expect(unsampledTail(sampleTenantMetrics().points)).toBe(false);
  });

  it("sums calls and errors, and picks the steps worth a table row", () => {
    const points = [
      tenantPoint("2026-12-02T04:00:00.000Z", { calls: calls({ "2xx": 4, "5xx": 1 }) }),
      tenantPoint("2026-12-02T04:00:10.000Z"),
      tenantPoint("2026-12-02T04:00:20.000Z", { pods: 1 }),
    ];
    const m = sampleTenantMetrics(points, fns);
    expect(tenantCalls(m)).toBe(5);
    expect(tenantErrors(m)).toBe(25);
    expect(activeTenantPoints(points).map((p) => p.at)).toEqual([
      "2026-12-02T04:00:00.000Z",
      "2026-12-02T04:00:20.000Z",
    ]);
  });

  it("says a value against its quota only when there is one", () => {
    expect(ofQuota("3", 50, "50")).toBe("3 of 50");
    expect(ofQuota("3", 0, "0")).toBe("3");
  });
});
