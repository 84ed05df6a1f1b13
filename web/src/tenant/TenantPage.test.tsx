import { describe, expect, it } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import {
  expectAccessible,
  mockFetch,
  renderApp,
  sampleTenantMetrics,
  signedIn,
} from "../test/utils";
import { TenantPage } from "./TenantPage";

describe("TenantPage", () => {
  it("shows namespace and quota bars", async () => {
    signedIn();
    const m = mockFetch({
      "GET /v1/me": {
        body: {
          tenant: "alice",
          subject: "alice",
          namespace: "tenant-alice",
          role: "tenant",
          // a partial quota: only what the server reports is shown
          quota: {
            requestsCpu: { used: "300m", hard: "10", ratio: 0.03 },
            pods: { used: "3", hard: "50", ratio: 0.06 },
            functions: { used: "1", hard: "50", ratio: 0.02 },
          },
          limits: { maxReplicas: 20 },
        },
      },
      "GET /v1/registry-credentials": { body: { items: [] } },
      "GET /v1/secrets": { body: { items: [] } },
      "GET /v1/metrics": { body: sampleTenantMetrics() },
    });
    const { container } = renderApp(<TenantPage />, { fetch: m.fetch });
    expect(await screen.findByText("tenant-alice")).toBeInTheDocument();
    const cpu = screen.getByRole("progressbar", { name: "CPU requests" });
    expect(cpu).toHaveAttribute("aria-valuenow", "3");
    expect(cpu).toHaveAttribute("aria-valuetext", "300m of 10 used (3%)");
    expect(screen.getAllByRole("progressbar")).toHaveLength(3);
    expect(await screen.findByRole("heading", { name: "Registry logins" })).toBeInTheDocument();
    expect(await screen.findByTestId("secrets-empty")).toBeInTheDocument();
    expect(await screen.findByTestId("usage-empty")).toBeInTheDocument();
    expect(screen.getByRole("region", { name: "Usage" })).toBeInTheDocument();
    await expectAccessible(container);
  });

  it("signs out with a message when the token is rejected", async () => {
    signedIn();
    const m = mockFetch({
      "GET /v1/me": {
        status: 401,
        body: { error: { code: "unauthorized", message: "token expired" } },
      },
    });
    renderApp(<TenantPage />, { fetch: m.fetch });
    await waitFor(() => expect(sessionStorage.getItem("eventflow.session")).toBeNull());
  });
});
