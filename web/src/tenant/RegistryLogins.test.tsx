import { describe, expect, it } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { expectAccessible, mockFetch, platformError, renderApp, signedIn } from "../test/utils";
import { RegistryLogins } from "./RegistryLogins";
import { checkRegistryLogin } from "./registryLogin";

const robot = {
  registry: "ghcr.io",
  username: "robot",
  createdAt: "2026-12-01T10:00:00.000Z",
  updatedAt: "2026-12-01T10:00:00.000Z",
};

describe("RegistryLogins", () => {
  it("lists logins, saves one with its password and never shows a password", async () => {
    signedIn();
    let items = [robot];
    const m = mockFetch({
      "GET /v1/registry-credentials": () => ({ body: { items } }),
      "PUT /v1/registry-credentials/registry.example.com%3A5000": () => {
        const created = { ...robot, registry: "registry.example.com:5000", username: "ci" };
        items = [...items, created];
        return { status: 201, body: created };
      },
    });
    const user = userEvent.setup();
    const { container } = renderApp(<RegistryLogins />, { fetch: m.fetch });
    expect(await screen.findByText("ghcr.io")).toBeInTheDocument();
    expect(screen.getByText("robot")).toBeInTheDocument();

    await user.type(screen.getByLabelText("Registry"), "registry.example.com:5000");
    await user.type(screen.getByLabelText("User"), "ci");
    const password = screen.getByLabelText("Password or token");
    expect(password).toHaveAttribute("type", "password");
    await user.type(password, "t0ken-secret");
    await user.click(screen.getByRole("button", { name: "Save login" }));

    expect(await screen.findByRole("status")).toHaveTextContent(
      "Login for registry.example.com:5000 saved.",
    );
    const put = m.calls.find((c) => c.method === "PUT");
    expect(put).toBeDefined();
    expect(await put!.json()).toEqual({ username: "ci", password: "t0ken-secret" });
    expect(await screen.findByText("registry.example.com:5000")).toBeInTheDocument();
    // The form is cleared; the password appears nowhere on the page.
    expect(screen.getByLabelText("Password or token")).toHaveValue("");
    expect(container.textContent).not.toContain("t0ken-secret");
    await expectAccessible(container);
  });

  it("shows the server's refusal next to the field it names", async () => {
    signedIn();
    const m = mockFetch({
      "GET /v1/registry-credentials": { body: { items: [] } },
      "PUT /v1/registry-credentials/ghcr.io": platformError(
        422,
        "validation_failed",
        "password: must not contain control characters",
        "password",
      ),
    });
    const user = userEvent.setup();
    renderApp(<RegistryLogins />, { fetch: m.fetch });
    expect(await screen.findByText(/No logins yet/)).toBeInTheDocument();
    await user.type(screen.getByLabelText("Registry"), "ghcr.io");
    await user.type(screen.getByLabelText("User"), "robot");
    await user.type(screen.getByLabelText("Password or token"), "x");
    await user.click(screen.getByRole("button", { name: "Save login" }));
    expect(await screen.findByText("must not contain control characters")).toBeInTheDocument();
    expect(screen.getByLabelText("Password or token")).toHaveAttribute("aria-invalid", "true");
  });

  it("removes a login", async () => {
    signedIn();
    let items = [robot];
    const m = mockFetch({
      "GET /v1/registry-credentials": () => ({ body: { items } }),
      "DELETE /v1/registry-credentials/ghcr.io": () => {
        items = [];
        return { status: 204 };
      },
    });
    const user = userEvent.setup();
    renderApp(<RegistryLogins />, { fetch: m.fetch });
    await user.click(await screen.findByRole("button", { name: "Remove the login for ghcr.io" }));
    await waitFor(() => expect(screen.queryByText("ghcr.io")).not.toBeInTheDocument());
    expect(m.calls.some((c) => c.method === "DELETE")).toBe(true);
  });

  it("checks the form before sending", () => {
    expect(checkRegistryLogin({ registry: "", username: "", password: "" })).toEqual({
      registry: "Enter the registry host, e.g. ghcr.io",
      username: "Enter the user name",
      password: "Enter the password or access token",
    });
    expect(
      checkRegistryLogin({ registry: "https://ghcr.io", username: "a:b", password: "p" }),
    ).toEqual({
      registry: "Only the host (and port), without scheme or path, e.g. ghcr.io",
      username: "The user name cannot contain ':'",
    });
    expect(checkRegistryLogin({ registry: "ghcr.io", username: "u", password: "p" })).toEqual({});
  });
});
