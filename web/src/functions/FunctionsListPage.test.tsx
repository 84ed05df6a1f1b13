import { describe, expect, it } from "vitest";
import { screen, within } from "@testing-library/react";
import { expectAccessible, mockFetch, renderApp, sampleFunction, signedIn } from "../test/utils";
import { FunctionsListPage } from "./FunctionsListPage";

describe("FunctionsListPage", () => {
  it("explains what to do when there are no functions", async () => {
    signedIn();
    const m = mockFetch({ "GET /v1/functions": { body: { items: [], nextCursor: null } } });
    const { container } = renderApp(<FunctionsListPage />, { fetch: m.fetch });
    expect(await screen.findByRole("heading", { name: "No functions yet" })).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Deploy your first function" })).toHaveAttribute(
      "href",
      "/functions/new",
    );
    await expectAccessible(container);
  });

  it("lists name, image, ready/desired, phase with reason", async () => {
    signedIn();
    const failing = {
      ...sampleFunction,
      name: "broken",
      spec: { ...sampleFunction.spec, image: "ghcr.io/org/nope:v1", replicas: 2 },
      status: {
        ...sampleFunction.status,
        phase: "Failed" as const,
        reason: "ImagePullBackOff",
        readyReplicas: 0,
      },
    };
    const m = mockFetch({
      "GET /v1/functions": { body: { items: [sampleFunction, failing], nextCursor: null } },
    });
    const { container } = renderApp(<FunctionsListPage />, { fetch: m.fetch });
    const row = (await screen.findByRole("link", { name: "broken" })).closest("tr")!;
    expect(within(row).getAllByText("ghcr.io/org/nope:v1").length).toBeGreaterThan(0);
    expect(within(row).getByText("0/2")).toBeInTheDocument();
    expect(within(row).getByText("Failed")).toBeInTheDocument();
    expect(within(row).getByText("ImagePullBackOff")).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "hello" })).toHaveAttribute("href", "/functions/hello");
    await expectAccessible(container);
  });

  it("confirms a deletion it was sent from", async () => {
    signedIn();
    const m = mockFetch({ "GET /v1/functions": { body: { items: [], nextCursor: null } } });
    renderApp(<FunctionsListPage />, { fetch: m.fetch, path: "/", deletedState: "hello" });
    expect(await screen.findByText(/^Deleted/)).toHaveTextContent("Deleted hello.");
  });

  it("shows a load error with a retry", async () => {
    signedIn();
    const m = mockFetch({
      "GET /v1/functions": {
        status: 500,
        body: { error: { code: "internal", message: "internal error" } },
      },
    });
    renderApp(<FunctionsListPage />, { fetch: m.fetch });
    expect(await screen.findByRole("alert")).toHaveTextContent("internal error");
    expect(screen.getByRole("button", { name: "Try again" })).toBeInTheDocument();
  });
});
