import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import {
  expectAccessible,
  invocation,
  meWithLimits,
  mockFetch,
  platformError,
  renderApp,
  sampleFunction,
  sampleMe,
  sampleMetrics,
  signedIn,
} from "../test/utils";
import { FunctionDetailPage } from "./FunctionDetailPage";

function setup(routes: Parameters<typeof mockFetch>[0] = {}) {
  signedIn();
  const m = mockFetch({
    "GET /v1/me": { body: sampleMe },
    "GET /v1/functions/hello": { body: sampleFunction },
    // what a server without Kubernetes answers
    "GET /v1/functions/hello/logs": platformError(
      503,
      "unavailable",
      "Kubernetes is not reachable; logs come from the cluster",
    ),
    "GET /v1/functions/hello/invocations": { body: { items: [], nextCursor: null } },
    "GET /v1/functions/hello/revisions": { body: { items: [], nextCursor: null } },
    "GET /v1/functions/hello/invoke-keys": { body: { items: [] } },
    "GET /v1/functions/hello/metrics": { body: sampleMetrics() },
    ...routes,
  });
  const r = renderApp(<FunctionDetailPage />, {
    fetch: m.fetch,
    path: "/functions/hello",
    routePath: "/functions/:name",
  });
  return { ...m, ...r };
}

describe("FunctionDetailPage", () => {
  it("shows spec, status and conditions", async () => {
    const { container } = setup();
    expect(await screen.findByRole("heading", { level: 1, name: "hello" })).toBeInTheDocument();
    expect(screen.getByText("GREETING=")).toBeInTheDocument();
    expect(screen.getByText("MinimumReplicasAvailable")).toBeInTheDocument();
    expect(screen.getByTestId("detail-ready")).toHaveTextContent("1/1");
    expect(await screen.findByRole("alert")).toHaveTextContent(
      "Could not stream logs: Kubernetes is not reachable; logs come from the cluster (unavailable)",
    );
    expect(screen.getByRole("button", { name: "Reconnect" })).toBeInTheDocument();
    await expectAccessible(container);
  });

  it("shows the function's secret references, names only", async () => {
    const { container } = setup({
      "GET /v1/functions/hello": {
        body: {
          ...sampleFunction,
          spec: {
            ...sampleFunction.spec,
            secretEnv: [
              { name: "DB_PASSWORD", secret: "db", key: "password" },
              { name: "TLS_CERT", secret: "tls", key: "tls.crt" },
            ],
            secretFiles: ["db"],
          },
        },
      },
    });
    const refs = await screen.findByTestId("detail-secrets");
    const env = within(refs).getByRole("list", { name: "Environment variables from secrets" });
    expect(
      within(env)
        .getAllByRole("listitem")
        .map((li) => li.textContent),
    ).toEqual(["DB_PASSWORD ← from db/password", "TLS_CERT ← from tls/tls.crt"]);
    const files = within(refs).getByRole("list", { name: "Secrets mounted as files" });
    expect(files).toHaveTextContent(
      "/var/eventflow/secrets/db/ (secret db, one read-only file per key)",
    );
    await expectAccessible(container);
  });

  it("has no Secrets row when the function reads no secrets", async () => {
    setup();
    await screen.findByRole("heading", { level: 1, name: "hello" });
    expect(screen.queryByText("Secrets", { selector: "dt" })).not.toBeInTheDocument();
    expect(screen.queryByTestId("detail-secrets")).not.toBeInTheDocument();
  });

  it("scales with PATCH replicas", async () => {
    const { calls } = setup({
      "PATCH /v1/functions/hello": (req) => ({
        body: { ...sampleFunction, spec: { ...sampleFunction.spec, replicas: 3 } },
        headers: { "x-seen": req.method },
      }),
    });
    const input = await screen.findByLabelText("Desired replicas");
    await userEvent.click(screen.getByRole("button", { name: "Increase replicas" }));
    await userEvent.click(screen.getByRole("button", { name: "Increase replicas" }));
    expect(input).toHaveValue("3");
    await userEvent.click(screen.getByRole("button", { name: "Scale" }));
    expect(await screen.findByText("Scaled to 3 replicas.")).toBeInTheDocument();
    const patch = calls.find((c) => c.method === "PATCH")!;
    expect(await patch.json()).toEqual({ replicas: 3 });
  });

  it("rejects an out-of-range replica count locally", async () => {
    const { calls } = setup();
    const input = await screen.findByLabelText("Desired replicas");
    await waitFor(() => expect(input).toHaveAccessibleDescription(/at most 20/));
    await userEvent.clear(input);
    await userEvent.type(input, "25");
    await userEvent.click(screen.getByRole("button", { name: "Scale" }));
    expect(input).toHaveAccessibleDescription(/between 0 and 20/);
    expect(calls.some((c) => c.method === "PATCH")).toBe(false);
  });

  it("takes the replica limit from the tenant", async () => {
    const { calls } = setup({ "GET /v1/me": { body: meWithLimits({ maxReplicas: 2 }) } });
    const input = await screen.findByLabelText("Desired replicas");
    await waitFor(() =>
      expect(input).toHaveAccessibleDescription("0 stops the function; at most 2."),
    );
    for (let i = 0; i < 3; i++)
      await userEvent.click(screen.getByRole("button", { name: "Increase replicas" }));
    expect(input).toHaveValue("2");
    await userEvent.clear(input);
    await userEvent.type(input, "3");
    await userEvent.click(screen.getByRole("button", { name: "Scale" }));
    expect(input).toHaveAccessibleDescription("Replicas must be between 0 and 2.");
    expect(calls.some((c) => c.method === "PATCH")).toBe(false);
  });

  it("leaves the replica limit to the server while the tenant is loading", async () => {
    const { calls } = setup({
      "GET /v1/me": () => new Promise(() => {}),
      "PATCH /v1/functions/hello": platformError(
        422,
        "validation_failed",
        "replicas: must be between 0 and 20",
        "replicas",
      ),
    });
    const input = await screen.findByLabelText("Desired replicas");
    expect(input).toHaveAccessibleDescription("0 stops the function.");
    await userEvent.clear(input);
    await userEvent.type(input, "25");
    await userEvent.click(screen.getByRole("button", { name: "Scale" }));
    await waitFor(() => expect(input).toHaveAccessibleDescription("must be between 0 and 20"));
    expect(await calls.find((c) => c.method === "PATCH")!.json()).toEqual({ replicas: 25 });
  });

  it("confirms before deleting, with focus in the dialog and Escape to cancel", async () => {
    const { calls } = setup({ "DELETE /v1/functions/hello": { status: 204 } });
    await userEvent.click(await screen.findByRole("button", { name: "Delete" }));
    const dialog = screen.getByRole("dialog", { name: "Delete hello?" });
    expect(within(dialog).getByRole("button", { name: "Cancel" })).toHaveFocus();
    await userEvent.keyboard("{Escape}");
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(screen.getByRole("button", { name: "Delete" })).toHaveFocus();

    await userEvent.click(screen.getByRole("button", { name: "Delete" }));
    await userEvent.click(
      within(screen.getByRole("dialog")).getByRole("button", { name: "Delete function" }),
    );
    await waitFor(() => expect(calls.some((c) => c.method === "DELETE")).toBe(true));
  });

  it("edits image and env with PATCH", async () => {
    const { calls } = setup({ "PATCH /v1/functions/hello": { body: sampleFunction } });
    await userEvent.click(await screen.findByRole("button", { name: "Edit image & env" }));
    const image = screen.getByLabelText("Image");
    await userEvent.clear(image);
    await userEvent.type(image, "nginx:1.27");
    await userEvent.click(screen.getByRole("button", { name: "Add variable" }));
    await userEvent.type(screen.getByLabelText("Variable 2 name"), "MODE");
    await userEvent.type(screen.getByLabelText("Variable 2 value"), "prod");
    await userEvent.click(screen.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(calls.some((c) => c.method === "PATCH")).toBe(true));
    expect(await calls.find((c) => c.method === "PATCH")!.json()).toEqual({
      image: "nginx:1.27",
      env: [
        { name: "GREETING", value: "hi" },
        { name: "MODE", value: "prod" },
      ],
    });
  });

  it("invokes the function and shows the response", async () => {
    setup({
      "POST /v1/functions/hello/invoke/echo": {
        body: '{"echo":"hi"}',
        headers: { "content-type": "application/json" },
      },
    });
    await screen.findByRole("heading", { level: 1, name: "hello" });
    await userEvent.selectOptions(screen.getByLabelText("Method"), "POST");
    await userEvent.clear(screen.getByLabelText("Path"));
    await userEvent.type(screen.getByLabelText("Path"), "/echo");
    await userEvent.type(screen.getByLabelText(/^Body/), '{{"x":1}');
    await userEvent.click(screen.getByRole("button", { name: "Send request" }));
    expect(await screen.findByTestId("invoke-status")).toHaveTextContent("200");
    expect(screen.getByLabelText("Response body")).toHaveTextContent('"echo": "hi"');
  });

  it("says when EventFlow answered instead of the function", async () => {
    setup({
      "GET /v1/functions/hello/invoke": platformError(
        503,
        "no_ready_replicas",
        'function "hello" has no ready replicas',
      ),
    });
    await screen.findByRole("heading", { level: 1, name: "hello" });
    await userEvent.click(screen.getByRole("button", { name: "Send request" }));
    expect(await screen.findByText(/EventFlow answered instead of the function/)).toHaveTextContent(
      'function "hello" has no ready replicas (no_ready_replicas)',
    );
    expect(screen.getByTestId("invoke-status")).toHaveTextContent("503");
  });

  it("shows a function's own error response as its answer", async () => {
    setup({
      "GET /v1/functions/hello/invoke": {
        status: 503,
        body: { error: { code: "busy", message: "try later" } },
      },
    });
    await screen.findByRole("heading", { level: 1, name: "hello" });
    await userEvent.click(screen.getByRole("button", { name: "Send request" }));
    expect(await screen.findByTestId("invoke-status")).toHaveTextContent("503");
    expect(screen.queryByText(/EventFlow answered instead/)).not.toBeInTheDocument();
    expect(screen.getByLabelText("Response body")).toHaveTextContent('"message": "try later"');
  });

  it("invokes asynchronously and puts the invocation at the top of the history", async () => {
    const queued = invocation({ status: "queued", attempts: 0, response: null, path: "/jobs" });
    let sent = false;
    const { calls } = setup({
      "POST /v1/functions/hello/invoke/jobs": () => {
        sent = true;
        return {
          status: 202,
          body: queued,
          headers: { location: `/v1/invocations/${queued.id}` },
        };
      },
      "GET /v1/functions/hello/invocations": () => ({
        body: { items: sent ? [queued] : [], nextCursor: null },
      }),
      [`GET /v1/invocations/${queued.id}`]: { body: { ...queued, attemptLog: [] } },
    });
    await screen.findByTestId("invocations-empty");
    await userEvent.selectOptions(screen.getByLabelText("Method"), "POST");
    await userEvent.clear(screen.getByLabelText("Path"));
    await userEvent.type(screen.getByLabelText("Path"), "/jobs");
    await userEvent.type(screen.getByLabelText(/^Body/), '{{"n":1}');
    await userEvent.click(screen.getByLabelText("Asynchronous"));
    expect(screen.getByLabelText("Asynchronous")).toHaveAccessibleDescription(
      /Queue the request and get its id at once/,
    );
    await userEvent.type(screen.getByLabelText(/^Callback URL/), "https://example.com/done");
    await userEvent.click(screen.getByRole("button", { name: "Queue request" }));
    expect(await screen.findByTestId("invoke-async-id")).toHaveTextContent(queued.id);
    const result = screen.getByTestId("invoke-async");
    expect(within(result).getByText("queued")).toBeInTheDocument();
    expect(result).toHaveTextContent("attempts 0/5");
    const post = calls.find((c) => c.method === "POST")!;
    expect(post.headers.get("prefer")).toBe("respond-async");
    expect(post.headers.get("eventflow-callback")).toBe("https://example.com/done");
    expect(await post.text()).toBe('{"n":1}');
    // the history has it at the top, without a page reload
    const row = await screen.findByTestId(`invocation-${queued.id}`);
    expect(within(row).getByText("queued")).toBeInTheDocument();
    expect(screen.queryByTestId("invocations-empty")).toBeNull();
    // no synchronous response was shown
    expect(screen.queryByTestId("invoke-status")).toBeNull();
  });

  it("shows a refused callback URL on its field", async () => {
    setup({
      "GET /v1/functions/hello/invoke": platformError(
        400,
        "bad_request",
        "EventFlow-Callback: callback URLs must use https",
        "EventFlow-Callback",
      ),
    });
    await screen.findByRole("heading", { level: 1, name: "hello" });
    await userEvent.click(screen.getByLabelText("Asynchronous"));
    const callback = screen.getByLabelText(/^Callback URL/);
    await userEvent.type(callback, "http://example.com/done");
    await userEvent.click(screen.getByRole("button", { name: "Queue request" }));
    await waitFor(() =>
      expect(callback).toHaveAccessibleDescription("callback URLs must use https"),
    );
    expect(callback).toHaveAttribute("aria-invalid", "true");
    expect(screen.queryByText("Could not queue the request")).toBeNull();
  });

  it("streams logs", async () => {
    setup({
      "GET /v1/functions/hello/logs": {
        body: "fn-hello-abc-1 started\nfn-hello-abc-1 GET / 200\n",
      },
    });
    const log = await screen.findByLabelText("Log output of hello");
    await waitFor(() => expect(log).toHaveTextContent("GET / 200"));
    expect(within(log).getAllByText("fn-hello-abc-1")).toHaveLength(2);
  });

  it("says when the function does not exist", async () => {
    signedIn();
    const m = mockFetch({});
    renderApp(<FunctionDetailPage />, {
      fetch: m.fetch,
      path: "/functions/ghost",
      routePath: "/functions/:name",
    });
    expect(await screen.findByRole("heading", { name: "Function not found" })).toBeInTheDocument();
  });

  it("shows an idle function and its last cold start", async () => {
    const now = Date.now();
    const idle = {
      ...sampleFunction,
      spec: {
        ...sampleFunction.spec,
        autoscaling: { minReplicas: 0, maxReplicas: 4, targetCpuPercent: 80, targetConcurrency: 2 },
      },
      status: {
        ...sampleFunction.status,
        phase: "Idle" as const,
        reason: "ScaledToZero",
        message: "scaled to zero replicas; with minReplicas 0 the next invocation starts one",
        replicas: 0,
        readyReplicas: 0,
        scaling: {
          desiredReplicas: 0,
          lastScaleTime: new Date(now - 60_000).toISOString(),
          lastScaleReason: "Idle",
          lastColdStartTime: new Date(now - 600_000).toISOString(),
          lastColdStartMs: 1180,
        },
      },
    };
    setup({ "GET /v1/functions/hello": { body: idle } });
    const phase = await screen.findByTestId("detail-phase");
    expect(within(phase).getByText("Idle")).toBeInTheDocument();
    expect(screen.getByTestId("detail-ready")).toHaveTextContent("0/0");
    const scaling = screen.getByTestId("detail-scaling");
    expect(scaling).toHaveTextContent(
      "Scales on requests: 0–4 replicas, 2 in flight per replica, to zero when idle.",
    );
    expect(scaling).toHaveTextContent("Last scaled to 0 (Idle)");
    expect(scaling).toHaveTextContent("Last cold start took 1.2 s");
  });
});
