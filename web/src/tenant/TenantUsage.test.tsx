import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import {
  expectAccessible,
  functionTotals,
  mockFetch,
  platformError,
  renderApp,
  sampleTenantMetrics,
  signedIn,
  tenantPoint,
} from "../test/utils";
import { TenantUsage } from "./TenantUsage";

const ROUTE = "GET /v1/metrics";
const calls = { "2xx": 0, "4xx": 0, "429": 0, "5xx": 0, "503": 0, "504": 0 };

const busy = sampleTenantMetrics(
  [
    tenantPoint("2026-12-02T04:00:00.000Z", {
      calls: { ...calls, "2xx": 6, "5xx": 1 },
      pods: 2,
      readyReplicasAvg: 2,
      requestsCpuMillicores: 200,
    }),
    tenantPoint("2026-12-02T04:00:10.000Z", { pods: 2, requestsCpuMillicores: 200 }),
    tenantPoint("2026-12-02T04:00:20.000Z", {
      calls: { ...calls, "2xx": 2, "503": 1 },
      pods: 1,
      requestsCpuMillicores: 100,
    }),
  ],
  [
    functionTotals("echo", { calls: { ...calls, "2xx": 7 } }),
    functionTotals("api", {
      calls: { ...calls, "2xx": 1, "5xx": 1, "503": 1 },
      errors: 2,
      errorRatio: 2 / 3,
    }),
    functionTotals("idle"),
  ],
);

function setup(handler: Parameters<typeof mockFetch>[0][string]) {
  signedIn();
  const m = mockFetch({ [ROUTE]: handler });
  const r = renderApp(<TenantUsage />, { fetch: m.fetch });
  const requested = () =>
    m.calls
      .filter((c) => new URL(c.url).pathname === "/v1/metrics")
      .map((c) => new URL(c.url).searchParams.get("range"));
  return { ...m, ...r, requested };
}

const card = () => screen.getByRole("region", { name: "Usage" });

describe("TenantUsage", () => {
  it("shows totals, the calls chart, the top functions and pods and CPU against the quota", async () => {
    const { container, requested } = setup({ body: busy });
    const summary = await screen.findByTestId("usage-summary");
    expect(requested()).toEqual(["1h"]);
    expect(within(summary).getByTestId("usage-calls")).toHaveTextContent("10");
    expect(within(summary).getByTestId("usage-errors")).toHaveTextContent("2 (20%)");
    expect(within(summary).getByTestId("usage-pods")).toHaveTextContent("2 of 50");
    expect(within(summary).getByTestId("usage-cpu")).toHaveTextContent("200m of 10 cores");

    expect(
      screen.getByRole("img", { name: /^Calls of all functions per 10 s step, stacked/ }),
    ).toHaveAccessibleName(expect.stringContaining("10 in the last hour, at most 7"));
    expect(screen.getByRole("img", { name: /^Pods of all functions/ })).toHaveAccessibleName(
      expect.stringContaining("at most 2 in the last hour, against a quota of 50"),
    );
    expect(screen.getByRole("img", { name: /^CPU requested/ })).toHaveAccessibleName(
      expect.stringContaining("at most 200m in the last hour, against a quota of 10 cores"),
    );

    // far below the quota, the legend says where the quota is
    expect(screen.getByRole("list", { name: "Pods and quota" })).toHaveTextContent(
      "PodsQuota 50, above this scale",
    );
    expect(screen.getByRole("list", { name: "CPU and quota" })).toHaveTextContent(
      "CPU requestedQuota 10 cores, above this scale",
    );

    const top = screen.getByRole("table", { name: "Most calls" });
    const rows = within(top).getAllByRole("row").slice(1);
    expect(rows.map((r) => r.textContent)).toEqual(["echo70%", "api367%"]);
    expect(within(rows[0]!).getByRole("link", { name: "echo" })).toHaveAttribute(
      "href",
      "/functions/echo",
    );
    const errors = screen.getByRole("table", { name: "Most errors (5xx, 503, 504)" });
    expect(
      within(errors)
        .getAllByRole("row")
        .slice(1)
        .map((r) => r.textContent),
    ).toEqual(["api267%"]);

    // the hidden table: the three steps with calls or pods
    const table = screen.getByRole("table", { name: /per 10 s step in the last hour/ });
    expect(within(table).getAllByRole("row")).toHaveLength(4);
    expect(screen.queryByTestId("usage-empty")).toBeNull();
    expect(screen.getByTestId("usage-footer")).toHaveTextContent(
      "10 s steps · 3 functions of 50 · refreshed every 10 s",
    );
    await expectAccessible(container);
  });

  it("explains an empty range: what appears and when", async () => {
    const { container } = setup({
      body: sampleTenantMetrics([], [functionTotals("idle")]),
    });
    const empty = await screen.findByTestId("usage-empty");
    expect(empty).toHaveTextContent(
      "No calls in the last hour. Invoke a function and its calls appear here within 10 seconds, with the functions called most and those answering errors.",
    );
    expect(screen.getByTestId("usage-no-pods")).toHaveTextContent(
      "No pods ran in the last hour. When a function has replicas, its pods and the CPU they request appear here against the quota.",
    );
    expect(screen.queryByRole("img")).toBeNull();
    expect(screen.queryByRole("table", { name: "Most calls" })).toBeNull();
    expect(screen.getByTestId("usage-errors")).toHaveTextContent("—");
    await expectAccessible(container);
  });

  it("says when nothing failed, and draws pods without calls", async () => {
    setup({
      body: sampleTenantMetrics(
        [
          tenantPoint("2026-12-02T04:00:00.000Z", {
            calls: { ...calls, "2xx": 3 },
            pods: 1,
            requestsCpuMillicores: 100,
          }),
        ],
        [functionTotals("echo", { calls: { ...calls, "2xx": 3 } })],
        {
          quota: {
            pods: 2,
            functions: 5,
            requestsCpuMillicores: 1000,
            requestsMemoryBytes: 1 << 30,
          },
        },
      ),
    });
    expect(await screen.findByTestId("usage-top-errors-empty")).toHaveTextContent(
      "No errors in the last hour.",
    );
    // near the quota, its line is on the chart
    expect(screen.getByRole("list", { name: "Pods and quota" })).toHaveTextContent("PodsQuota 2");
    expect(screen.getByRole("table", { name: "Most calls" })).toHaveTextContent("echo3");
  });

  it("switches the range, and offers 7 days when the answer came from Prometheus", async () => {
    const { requested } = setup((req) =>
      new URL(req.url).searchParams.get("range") === "6h"
        ? { body: { ...busy, backend: "prometheus", rangeSeconds: 21600, stepSeconds: 300 } }
        : { body: sampleTenantMetrics() },
    );
    await screen.findByTestId("usage-empty");
    const group = within(card()).getByRole("group", { name: "Time range" });
    expect(
      within(group)
        .getAllByRole("button")
        .map((b) => b.textContent),
    ).toEqual(["15 min", "1 h", "6 h", "24 h"]);
    await userEvent.click(within(group).getByRole("button", { name: "6 h" }));
    await waitFor(() => expect(screen.getByTestId("usage-calls")).toHaveTextContent("10"));
    expect(within(group).getByRole("button", { name: "6 h" })).toHaveAttribute(
      "aria-pressed",
      "true",
    );
    expect(screen.getByTestId("usage-footer")).toHaveTextContent("5 min steps");
    await userEvent.click(within(group).getByRole("button", { name: "7 d" }));
    await waitFor(() => expect(requested()).toEqual(["1h", "6h", "7d"]));
  });

  it("shows the server's message when it cannot answer", async () => {
    const { container } = setup(platformError(503, "unavailable", "Prometheus did not answer"));
    const alert = await within(card()).findByRole("alert", {}, { timeout: 8000 });
    expect(alert).toHaveTextContent("Could not load usage");
    expect(alert).toHaveTextContent("Prometheus did not answer");
    await expectAccessible(container);
  });
});
