import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { FunctionMetrics } from "../api/types";
import {
  expectAccessible,
  metricsPoint,
  mockFetch,
  platformError,
  renderApp,
  sampleMetrics,
  signedIn,
} from "../test/utils";
import { MetricsCard } from "./MetricsCard";

const ROUTE = "GET /v1/functions/hello/metrics";
const calls = { "2xx": 0, "4xx": 0, "429": 0, "5xx": 0, "503": 0, "504": 0 };

const busy: FunctionMetrics = {
  ...sampleMetrics([
    metricsPoint("2026-12-02T04:00:00.000Z", {
      calls: { ...calls, "2xx": 5, "4xx": 1 },
      callsPerSecond: 0.6,
      latencyMs: { p50: 3.1, p95: 4.8, p99: 4.96 },
      inFlightMax: 2,
      coldStarts: 1,
      coldStartMsAvg: 850,
    }),
    metricsPoint("2026-12-02T04:00:10.000Z"),
    metricsPoint("2026-12-02T04:00:20.000Z", {
      calls: { ...calls, "2xx": 2, "504": 2 },
      callsPerSecond: 0.4,
      latencyMs: { p50: 12, p95: 40, p99: 1500 },
    }),
  ]),
};
busy.summary = {
  ...busy.summary,
  callsPerSecond: 0.3333,
  latencyMs: { p50: 3.4, p95: 38, p99: 1480 },
  coldStartMsAvg: 850,
};

function setup(handler: Parameters<typeof mockFetch>[0][string]) {
  signedIn();
  const m = mockFetch({ [ROUTE]: handler });
  const r = renderApp(<MetricsCard name="hello" />, { fetch: m.fetch });
  const requested = () =>
    m.calls
      .filter((c) => new URL(c.url).pathname === "/v1/functions/hello/metrics")
      .map((c) => new URL(c.url).searchParams.get("range"));
  return { ...m, ...r, requested };
}

const card = () => screen.getByRole("region", { name: "Metrics" });

describe("MetricsCard", () => {
  it("shows the summary tiles, labelled charts, a legend and the numbers in a table", async () => {
    const { container, requested } = setup({ body: busy });
    const summary = await screen.findByTestId("metrics-summary");
    expect(requested()).toEqual(["1h"]);
    expect(within(summary).getByTestId("metrics-calls")).toHaveTextContent("10");
    expect(screen.getByTestId("metrics-calls-2xx")).toHaveTextContent("2xx 7");
    expect(screen.getByTestId("metrics-calls-4xx")).toHaveTextContent("4xx 1");
    expect(screen.getByTestId("metrics-calls-504")).toHaveTextContent("504 2");
    expect(screen.queryByTestId("metrics-calls-5xx")).toBeNull();
    expect(screen.getByTestId("metrics-rate")).toHaveTextContent("0.333");
    // (1 + 2) errors of 10 calls
    expect(screen.getByTestId("metrics-errors")).toHaveTextContent("30%");
    expect(screen.getByTestId("metrics-latency")).toHaveTextContent("p50 3.4 msp95 38 msp99 1.5 s");
    expect(screen.getByTestId("metrics-cold-starts")).toHaveTextContent("1avg 850 ms");

    const chart = screen.getByRole("img", { name: /^Calls per 10 s step, stacked by outcome/ });
    expect(chart).toHaveAccessibleName(expect.stringContaining("10 in the last hour, at most 6"));
    expect(screen.getByRole("img", { name: /^Latency per 10 s step: p50 3.4 ms/ })).toBeVisible();
    expect(screen.getByRole("img", { name: /^Cold starts per 10 s step: 1 in/ })).toBeVisible();
    const outcomes = screen.getByRole("list", { name: "Outcomes" });
    expect(
      within(outcomes)
        .getAllByRole("listitem")
        .map((li) => li.textContent),
    ).toEqual(["2xx and 3xx", "4xx", "429 limited", "5xx", "503 no replica", "504 timeout"]);

    const table = screen.getByRole("table", { name: /per 10 s step in the last hour/ });
    const rows = within(table).getAllByRole("row");
    // the header and the two steps with calls
    expect(rows).toHaveLength(3);
    expect(
      within(rows[2]!)
        .getAllByRole("cell")
        .map((c) => c.textContent),
    ).toEqual(["2", "0", "0", "0", "0", "2", "12 ms", "40 ms", "1.5 s", "0", "1", "1"]);
    // replicas on the same time axis; CPU and memory unknown, said quietly
    expect(
      screen.getByRole("img", { name: /^Replicas per 10 s step, the most asked for/ }),
    ).toHaveAccessibleName(expect.stringContaining("asked for at most 1, ready at most 1"));
    expect(screen.getByRole("list", { name: "Replicas" })).toHaveTextContent("ReadyAsked for");
    expect(screen.getByTestId("metrics-no-usage")).toHaveTextContent(
      "CPU and memory appear here when the platform's metrics come from Prometheus scraping the nodes",
    );
    expect(screen.queryByTestId("metrics-chart-cpu")).toBeNull();
    expect(screen.getByTestId("metrics-in-flight")).toHaveTextContent("at most 2 in flight");
    expect(screen.queryByTestId("metrics-empty")).toBeNull();
    await expectAccessible(container);
  });

  it("asks for the range picked and marks it pressed", async () => {
    const { requested } = setup((req) =>
      new URL(req.url).searchParams.get("range") === "6h"
        ? { body: { ...busy, rangeSeconds: 21600, stepSeconds: 300 } }
        : { body: sampleMetrics() },
    );
    await screen.findByTestId("metrics-empty");
    const group = within(card()).getByRole("group", { name: "Time range" });
    expect(
      within(group)
        .getAllByRole("button")
        .map((b) => b.textContent),
    ).toEqual(["15 min", "1 h", "6 h", "24 h"]);
    expect(within(group).getByRole("button", { name: "1 h" })).toHaveAttribute(
      "aria-pressed",
      "true",
    );
    await userEvent.click(within(group).getByRole("button", { name: "6 h" }));
    expect(within(group).getByRole("button", { name: "6 h" })).toHaveAttribute(
      "aria-pressed",
      "true",
    );
    expect(within(group).getByRole("button", { name: "1 h" })).toHaveAttribute(
      "aria-pressed",
      "false",
    );
    await waitFor(() => expect(screen.getByTestId("metrics-calls-2xx")).toHaveTextContent("7"));
    expect(screen.getByTestId("metrics-footer")).toHaveTextContent("5 min steps");
    expect(requested()).toEqual(["1h", "6h"]);
    await userEvent.click(within(group).getByRole("button", { name: "15 min" }));
    await screen.findByText(/No invocations in the last 15 minutes\./);
    expect(requested()).toEqual(["1h", "6h", "15m"]);
  });

  it("gives calls per second from the counts, not the server's rounded rate", async () => {
    const few = sampleMetrics(
      [metricsPoint("2026-12-02T04:00:00.000Z", { calls: { ...calls, "2xx": 4 } })],
      { rangeSeconds: 21600, stepSeconds: 300 },
    );
    setup({ body: { ...few, summary: { ...few.summary, callsPerSecond: 0 } } });
    expect(await screen.findByTestId("metrics-rate")).toHaveTextContent("0.0002");
  });

  it("explains an empty range: when calls appear and how long they are kept", async () => {
    const { container } = setup({ body: sampleMetrics() });
    const empty = await screen.findByTestId("metrics-empty");
    expect(empty).toHaveTextContent(
      "No invocations in the last hour. Calls through the gateway appear here within 10 seconds; this server keeps 10-second points for an hour and 5-minute points for a day (each server replica counts its own calls).",
    );
    // no calls charts, but the replica that was up all along
    expect(screen.getAllByRole("img").map((i) => i.dataset.testid)).toEqual([
      "metrics-chart-replicas",
    ]);
    expect(screen.queryByTestId("metrics-table")).toBeNull();
    expect(screen.getByTestId("metrics-calls")).toHaveTextContent("0");
    expect(screen.getByTestId("metrics-errors")).toHaveTextContent("—");
    expect(screen.getByTestId("metrics-latency")).toHaveTextContent("—");
    await expectAccessible(container);
  });

  it("draws no chart for a function that had no replicas and no calls", async () => {
    setup({
      body: sampleMetrics(
        Array.from({ length: 6 }, (_, i) =>
          metricsPoint(new Date(Date.UTC(2026, 11, 2, 4, 0, i * 10)).toISOString(), {
            replicas: 0,
            readyReplicas: 0,
            readyReplicasAvg: 0,
          }),
        ),
        { replicas: 0, readyReplicas: 0 },
      ),
    });
    await screen.findByTestId("metrics-empty");
    expect(screen.queryByRole("img")).toBeNull();
    expect(screen.getByTestId("metrics-footer")).toHaveTextContent("0/0 replicas ready");
  });

  it("draws CPU and memory from Prometheus, offers 7 days, and leaves out in-flight", async () => {
    const points = busy.points.map((p, i) => ({
      ...p,
      inFlightMax: null,
      replicas: 2,
      readyReplicas: i === 0 ? 1 : 2,
      cpuCores: i === 1 ? null : 0.25 * (i + 1),
      memoryBytes: 48 * 1024 * 1024,
    }));
    const prom: FunctionMetrics = {
      ...busy,
      backend: "prometheus",
      points,
      summary: { ...busy.summary, inFlightMax: null },
    };
    const { container, requested } = setup({ body: prom });
    await screen.findByTestId("metrics-summary");
    expect(screen.queryByTestId("metrics-in-flight")).toBeNull();
    expect(screen.getByRole("img", { name: /^CPU of the function's pods/ })).toHaveAccessibleName(
      expect.stringContaining("at most 750m in the last hour"),
    );
    expect(screen.getByRole("img", { name: /^Working-set memory/ })).toHaveAccessibleName(
      expect.stringContaining("at most 48 MiB"),
    );
    expect(screen.queryByTestId("metrics-no-usage")).toBeNull();
    expect(screen.getByRole("img", { name: /^Replicas per 10 s step/ })).toHaveAccessibleName(
      expect.stringContaining("asked for at most 2, ready at most 2"),
    );
    const rows = within(screen.getByTestId("metrics-table")).getAllByRole("row");
    expect(
      within(rows[1]!)
        .getAllByRole("cell")
        .slice(-4)
        .map((c) => c.textContent),
    ).toEqual(["2", "1", "250m", "48 MiB"]);
    const group = within(card()).getByRole("group", { name: "Time range" });
    expect(
      within(group)
        .getAllByRole("button")
        .map((b) => b.textContent),
    ).toEqual(["15 min", "1 h", "6 h", "24 h", "7 d"]);
    await userEvent.click(within(group).getByRole("button", { name: "7 d" }));
    await waitFor(() => expect(requested()).toEqual(["1h", "7d"]));
    await expectAccessible(container);
  });

  it("shows the server's message when it refuses the range", async () => {
    const { container } = setup(
      platformError(422, "validation_failed", "range: must be between 15m and 24h", "range"),
    );
    const alert = await within(card()).findByRole("alert");
    expect(alert).toHaveTextContent("Could not load metrics");
    expect(alert).toHaveTextContent("range: must be between 15m and 24h");
    expect(screen.queryByTestId("metrics-summary")).toBeNull();
    await expectAccessible(container);
  });
});
