import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { expectAccessible, mockFetch, renderApp, sampleFunction, signedIn } from "../test/utils";
import { FunctionDetailPage } from "./FunctionDetailPage";

function setup(routes: Parameters<typeof mockFetch>[0] = {}) {
  signedIn();
  const m = mockFetch({
    "GET /v1/functions/hello": { body: sampleFunction },
    "GET /v1/functions/hello/logs": {
      status: 501,
      body: { error: { code: "not_implemented", message: "logs are not implemented" } },
    },
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
    expect(
      await screen.findByText(/Log streaming is not available on this server/),
    ).toBeInTheDocument();
    await expectAccessible(container);
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
    await userEvent.clear(input);
    await userEvent.type(input, "25");
    await userEvent.click(screen.getByRole("button", { name: "Scale" }));
    expect(input).toHaveAccessibleDescription(/between 0 and 20/);
    expect(calls.some((c) => c.method === "PATCH")).toBe(false);
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

  it("says when invoking is not available", async () => {
    setup({
      "GET /v1/functions/hello/invoke": {
        status: 501,
        body: { error: { code: "not_implemented", message: "no" } },
      },
    });
    await screen.findByRole("heading", { level: 1, name: "hello" });
    await userEvent.click(screen.getByRole("button", { name: "Send request" }));
    expect(
      await screen.findByText(/Invoking functions is not available on this server/),
    ).toBeInTheDocument();
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
});
