import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { Invocation } from "../api/types";
import {
  expectAccessible,
  invocation,
  mockFetch,
  platformError,
  renderApp,
  sampleFunction,
  signedIn,
} from "../test/utils";
import { InvocationsPanel } from "./InvocationsPanel";

const LIST = "GET /v1/functions/hello/invocations";

function setup(routes: Parameters<typeof mockFetch>[0]) {
  signedIn();
  const m = mockFetch(routes);
  const r = renderApp(<InvocationsPanel fn={sampleFunction} />, { fetch: m.fetch });
  const listCalls = () =>
    m.calls.filter((c) => c.method === "GET" && new URL(c.url).pathname.endsWith("/invocations"));
  return { ...m, ...r, listCalls };
}

const page = (items: Invocation[], nextCursor: string | null = null) => ({
  body: { items, nextCursor },
});

const row = (inv: Invocation) => screen.getByTestId(`invocation-${inv.id}`);

describe("InvocationsPanel", () => {
  it("explains what will appear while there are none", async () => {
    const { container } = setup({ [LIST]: page([]) });
    expect(await screen.findByTestId("invocations-empty")).toHaveTextContent(
      /No asynchronous invocations yet\. Send a request from Invoke with “Asynchronous” ticked, or add a schedule/,
    );
    await expectAccessible(container);
  });

  it("lists invocations with status, attempts, response code, request, source and age", async () => {
    const ok = invocation({ createdAt: new Date(Date.now() - 5 * 60_000).toISOString() });
    const dead = invocation({
      status: "dead",
      attempts: 5,
      source: "schedule:nightly",
      method: "POST",
      path: "",
      response: { status: 503, headers: [], body: "busy", truncated: false },
      lastError: "the function answered 503",
    });
    const { container } = setup({ [LIST]: page([ok, dead]) });
    await screen.findByTestId(`invocation-${ok.id}`);
    expect(within(row(ok)).getByText("succeeded")).toBeInTheDocument();
    expect(within(row(ok)).getByTestId("invocation-attempts")).toHaveTextContent("2/5");
    expect(within(row(ok)).getByTestId("invocation-response")).toHaveTextContent("200");
    expect(within(row(ok)).getByTestId("invocation-source")).toHaveTextContent("API");
    expect(row(ok)).toHaveTextContent("POST /jobs");
    expect(row(ok)).toHaveTextContent("5m ago");
    expect(within(row(dead)).getByText("dead")).toBeInTheDocument();
    expect(within(row(dead)).getByTestId("invocation-attempts")).toHaveTextContent("5/5");
    expect(within(row(dead)).getByTestId("invocation-source")).toHaveTextContent(
      "schedule nightly",
    );
    // only dead and failed ones can be re-driven
    expect(within(row(ok)).queryByRole("button", { name: /Re-drive/ })).toBeNull();
    expect(
      within(row(dead)).getByRole("button", { name: `Re-drive invocation ${dead.id.slice(0, 8)}` }),
    ).toBeInTheDocument();
    await expectAccessible(container);
  });

  it("filters by status", async () => {
    const dead = invocation({ status: "dead" });
    const { listCalls } = setup({
      [LIST]: (req) => {
        const status = new URL(req.url).searchParams.get("status");
        return page(status === "dead" ? [dead] : status === "failed" ? [] : [invocation(), dead]);
      },
    });
    await screen.findByTestId(`invocation-${dead.id}`);
    await userEvent.selectOptions(screen.getByLabelText("Status"), "dead");
    await waitFor(() =>
      expect(new URL(listCalls().at(-1)!.url).searchParams.get("status")).toBe("dead"),
    );
    await waitFor(() => expect(screen.getAllByTestId(/^invocation-\d/)).toHaveLength(1));
    await userEvent.selectOptions(screen.getByLabelText("Status"), "failed");
    expect(await screen.findByTestId("invocations-empty")).toHaveTextContent(
      "No failed invocations.",
    );
  });

  it("loads older invocations with the cursor", async () => {
    const first = invocation();
    const second = invocation({ status: "failed" });
    const { listCalls } = setup({
      [LIST]: (req) =>
        new URL(req.url).searchParams.get("cursor") === "c2" ? page([second]) : page([first], "c2"),
    });
    await screen.findByTestId(`invocation-${first.id}`);
    await userEvent.click(screen.getByRole("button", { name: "Load more" }));
    await screen.findByTestId(`invocation-${second.id}`);
    expect(new URL(listCalls().at(-1)!.url).searchParams.get("limit")).toBe("20");
    expect(screen.queryByRole("button", { name: "Load more" })).toBeNull();
  });

  it("opens a row to its attempt log, last error and response body", async () => {
    const inv = invocation({
      status: "succeeded",
      lastError: "the function answered 503",
      response: {
        status: 200,
        headers: [["content-type", "application/json"]],
        body: '{"done":true}',
        truncated: true,
      },
    });
    const { container } = setup({
      [LIST]: page([inv]),
      [`GET /v1/invocations/${inv.id}`]: {
        body: {
          ...inv,
          attemptLog: [
            {
              n: 1,
              startedAt: "2026-01-01T00:00:00.000Z",
              finishedAt: "2026-01-01T00:00:00.015Z",
              status: 503,
              outcome: "retry",
              error: "the function answered 503",
            },
            {
              n: 2,
              startedAt: "2026-01-01T00:00:01.000Z",
              finishedAt: "2026-01-01T00:00:02.200Z",
              status: 200,
              outcome: "succeeded",
              error: null,
            },
          ],
        },
      },
    });
    const toggle = await screen.findByRole("button", {
      name: `Details of invocation ${inv.id.slice(0, 8)}`,
    });
    expect(toggle).toHaveAttribute("aria-expanded", "false");
    await userEvent.click(toggle);
    expect(toggle).toHaveAttribute("aria-expanded", "true");
    const details = screen.getByTestId(`invocation-details-${inv.id}`);
    const first = await within(details).findByTestId("attempt-1");
    expect(first).toHaveTextContent("503");
    expect(first).toHaveTextContent("retry");
    expect(first).toHaveTextContent("15 ms");
    expect(within(details).getByTestId("attempt-2")).toHaveTextContent("succeeded");
    expect(within(details).getByTestId("attempt-2")).toHaveTextContent("1.2 s");
    expect(details).toHaveTextContent("Last error");
    expect(details).toHaveTextContent("the function answered 503");
    expect(details).toHaveTextContent("Cut short");
    expect(
      within(details).getByLabelText(`Response body of invocation ${inv.id.slice(0, 8)}`),
    ).toHaveTextContent('"done": true');
    await expectAccessible(container);
    await userEvent.click(toggle);
    expect(screen.queryByTestId(`invocation-details-${inv.id}`)).toBeNull();
  });

  it("re-drives a dead invocation and keeps focus on its row", async () => {
    const dead = invocation({ status: "dead", attempts: 5 });
    let redriven = false;
    const { calls } = setup({
      [LIST]: () => page([redriven ? { ...dead, status: "queued" } : dead]),
      [`POST /v1/invocations/${dead.id}/redrive`]: () => {
        redriven = true;
        return { body: { ...dead, status: "queued", maxAttempts: 10 } };
      },
    });
    await screen.findByTestId(`invocation-${dead.id}`);
    await userEvent.click(screen.getByRole("button", { name: /^Re-drive invocation/ }));
    await waitFor(() => expect(within(row(dead)).getByText("queued")).toBeInTheDocument());
    expect(calls.some((c) => c.method === "POST" && c.url.endsWith("/redrive"))).toBe(true);
    expect(within(row(dead)).queryByRole("button", { name: /Re-drive/ })).toBeNull();
    expect(screen.getByRole("status")).toHaveTextContent(
      `Invocation ${dead.id.slice(0, 8)} is queued again.`,
    );
    await waitFor(() =>
      expect(
        screen.getByRole("button", { name: `Details of invocation ${dead.id.slice(0, 8)}` }),
      ).toHaveFocus(),
    );
  });

  it("says why a re-drive was refused", async () => {
    const failed = invocation({ status: "failed" });
    setup({
      [LIST]: page([failed]),
      [`POST /v1/invocations/${failed.id}/redrive`]: platformError(
        409,
        "conflict",
        "invocation is queued, not dead or failed",
      ),
    });
    await screen.findByTestId(`invocation-${failed.id}`);
    const button = screen.getByRole("button", { name: /^Re-drive invocation/ });
    await userEvent.click(button);
    expect(await screen.findByRole("alert")).toHaveTextContent(
      "invocation is queued, not dead or failed",
    );
    expect(button).toHaveAccessibleDescription("invocation is queued, not dead or failed");
  });

  it("refreshes on its own while an invocation is queued or running, and stops after", async () => {
    const inv = invocation({ status: "queued", attempts: 0, response: null });
    let calls = 0;
    const { listCalls } = setup({
      [LIST]: () => {
        calls += 1;
        return page([calls === 1 ? inv : { ...inv, status: "succeeded", attempts: 1 }]);
      },
    });
    await screen.findByTestId(`invocation-${inv.id}`);
    expect(within(row(inv)).getByText("queued")).toBeInTheDocument();
    await waitFor(() => expect(within(row(inv)).getByText("succeeded")).toBeInTheDocument(), {
      timeout: 4000,
    });
    const seen = listCalls().length;
    await new Promise((r) => setTimeout(r, 2500));
    expect(listCalls()).toHaveLength(seen);
  }, 15_000);

  it("shows an error with a retry when the list cannot be loaded", async () => {
    setup({ [LIST]: platformError(503, "unavailable", "the catalog is not reachable") });
    expect(await screen.findByRole("alert")).toHaveTextContent("the catalog is not reachable");
    expect(screen.getByRole("button", { name: "Try again" })).toBeInTheDocument();
  });
});
