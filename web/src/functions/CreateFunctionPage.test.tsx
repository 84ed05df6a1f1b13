import { describe, expect, it } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { expectAccessible, mockFetch, renderApp, sampleFunction, signedIn } from "../test/utils";
import { CreateFunctionPage } from "./CreateFunctionPage";

function setup(routes: Parameters<typeof mockFetch>[0] = {}) {
  signedIn();
  const m = mockFetch(routes);
  const r = renderApp(<CreateFunctionPage />, {
    fetch: m.fetch,
    path: "/functions/new",
    routePath: "/functions/new",
  });
  return { ...m, ...r };
}

describe("CreateFunctionPage", () => {
  it("shows client-side errors on their fields and focuses the first", async () => {
    const { calls, container } = setup();
    await userEvent.type(screen.getByLabelText("Name"), "Bad_Name");
    await userEvent.type(screen.getByLabelText("Replicas"), "50");
    await userEvent.click(screen.getByRole("button", { name: "Create function" }));
    const name = screen.getByLabelText("Name");
    expect(name).toHaveAttribute("aria-invalid", "true");
    expect(name).toHaveAccessibleDescription(/lowercase letters, digits and '-'/);
    expect(screen.getByLabelText("Image")).toHaveAccessibleDescription(/required/);
    expect(screen.getByLabelText("Replicas")).toHaveAccessibleDescription(/between 0 and 20/);
    expect(screen.getByRole("alert")).toHaveTextContent("Please fix the 3 highlighted fields.");
    await waitFor(() => expect(name).toHaveFocus());
    expect(calls).toHaveLength(0);
    await expectAccessible(container);
  });

  it("puts a server field error on the field it names", async () => {
    setup({
      "POST /v1/functions": {
        status: 422,
        body: {
          error: {
            code: "validation_failed",
            message: "must be at least requests.cpu (2)",
            field: "resources.limits.cpu",
          },
        },
      },
    });
    await userEvent.type(screen.getByLabelText("Name"), "hello");
    await userEvent.type(screen.getByLabelText("Image"), "nginx:alpine");
    await userEvent.click(screen.getByRole("button", { name: "Create function" }));
    const limit = screen.getByLabelText("CPU limit");
    await waitFor(() =>
      expect(limit).toHaveAccessibleDescription("must be at least requests.cpu (2)"),
    );
    expect(limit).toHaveAttribute("aria-invalid", "true");
  });

  it("maps a server env error to the right row", async () => {
    setup({
      "POST /v1/functions": {
        status: 422,
        body: {
          error: { code: "validation_failed", message: "reserved name", field: "env[0].name" },
        },
      },
    });
    await userEvent.type(screen.getByLabelText("Name"), "hello");
    await userEvent.type(screen.getByLabelText("Image"), "nginx:alpine");
    await userEvent.click(screen.getByRole("button", { name: "Add variable" }));
    await userEvent.type(screen.getByLabelText("Variable 1 name"), "KUBERNETES_X");
    await userEvent.click(screen.getByRole("button", { name: "Create function" }));
    await waitFor(() =>
      expect(screen.getByLabelText("Variable 1 name")).toHaveAccessibleDescription("reserved name"),
    );
  });

  it("shows a duplicate name on the name field", async () => {
    setup({
      "POST /v1/functions": {
        status: 409,
        body: { error: { code: "conflict", message: "function hello already exists" } },
      },
    });
    await userEvent.type(screen.getByLabelText("Name"), "hello");
    await userEvent.type(screen.getByLabelText("Image"), "nginx:alpine");
    await userEvent.click(screen.getByRole("button", { name: "Create function" }));
    await waitFor(() =>
      expect(screen.getByLabelText("Name")).toHaveAccessibleDescription(
        "function hello already exists",
      ),
    );
  });

  it("shows other server errors as a banner", async () => {
    setup({
      "POST /v1/functions": {
        status: 500,
        body: { error: { code: "internal", message: "internal error" } },
      },
    });
    await userEvent.type(screen.getByLabelText("Name"), "hello");
    await userEvent.type(screen.getByLabelText("Image"), "nginx:alpine");
    await userEvent.click(screen.getByRole("button", { name: "Create function" }));
    expect(await screen.findByText("Could not create the function")).toBeInTheDocument();
  });

  it("creates the function and opens it", async () => {
    const { calls } = setup({ "POST /v1/functions": { status: 201, body: sampleFunction } });
    await userEvent.type(screen.getByLabelText("Name"), "hello");
    await userEvent.type(screen.getByLabelText("Image"), "nginx:alpine");
    await userEvent.type(screen.getByLabelText("Replicas"), "2");
    await userEvent.click(screen.getByRole("button", { name: "Create function" }));
    expect(await screen.findByText("detail page")).toBeInTheDocument();
    expect(await calls[0]!.json()).toEqual({ name: "hello", image: "nginx:alpine", replicas: 2 });
    expect(calls[0]!.headers.get("authorization")).toBe("Bearer token-alice");
  });
});
