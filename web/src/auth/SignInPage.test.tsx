import { describe, expect, it } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { expectAccessible, mockFetch, renderApp } from "../test/utils";
import { SignInPage } from "./SignInPage";
import { loadSession } from "./session";

const token = {
  token: "jwt-alice",
  tenant: "alice",
  role: "tenant",
  expiresAt: "2099-01-01T00:00:00Z",
};

describe("SignInPage", () => {
  it("offers the demo users in dev mode and signs in with one click", async () => {
    const m = mockFetch({
      "GET /auth/config": { body: { mode: "dev", demoUsers: ["alice", "bob", "charlie", "demo"] } },
      "POST /auth/token": { body: token },
    });
    const { container } = renderApp(<SignInPage />, {
      fetch: m.fetch,
      path: "/signin",
      routePath: "/signin",
    });
    for (const u of ["alice", "bob", "charlie", "demo"]) {
      expect(await screen.findByRole("button", { name: `Sign in as ${u}` })).toBeInTheDocument();
    }
    expect(screen.getByText(/Development mode/)).toBeInTheDocument();
    await expectAccessible(container);
    await userEvent.click(screen.getByRole("button", { name: "Sign in as alice" }));
    await waitFor(() => expect(loadSession()?.token).toBe("jwt-alice"));
    const body: unknown = await m.calls.find((c) => c.url.endsWith("/auth/token"))!.json();
    expect(body).toEqual({ user_id: "alice", username: "alice", email: "alice@example.com" });
  });

  it("validates a free user id before sending it", async () => {
    const m = mockFetch({
      "GET /auth/config": { body: { mode: "dev", demoUsers: ["alice", "bob", "charlie", "demo"] } },
      "POST /auth/token": { body: token },
    });
    renderApp(<SignInPage />, { fetch: m.fetch, path: "/signin", routePath: "/signin" });
    const field = await screen.findByLabelText("Or another user id");
    await userEvent.type(field, "Not Valid");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(field).toHaveAccessibleDescription(/lowercase letters/);
    expect(field).toHaveAttribute("aria-invalid", "true");
    expect(m.calls.some((c) => c.url.endsWith("/auth/token"))).toBe(false);
  });

  it("asks for an API key in production mode and shows the server's refusal", async () => {
    const m = mockFetch({
      "GET /auth/config": { body: { mode: "production", demoUsers: [] } },
      "POST /auth/token": {
        status: 401,
        body: { error: { code: "unauthorized", message: "invalid API key" } },
      },
    });
    const { container } = renderApp(<SignInPage />, {
      fetch: m.fetch,
      path: "/signin",
      routePath: "/signin",
    });
    const key = await screen.findByLabelText("API key");
    expect(screen.queryByRole("button", { name: /Sign in as/ })).toBeNull();
    await expectAccessible(container);
    await userEvent.type(key, "efk_wrong");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("invalid API key");
    const body: unknown = await m.calls.find((c) => c.url.endsWith("/auth/token"))!.json();
    expect(body).toEqual({ api_key: "efk_wrong" });
  });

  it("explains an expired session", async () => {
    sessionStorage.setItem(
      "eventflow.session",
      JSON.stringify({
        token: "old",
        tenant: "alice",
        role: "tenant",
        expiresAt: "2000-01-01T00:00:00Z",
      }),
    );
    const m = mockFetch({
      "GET /auth/config": { body: { mode: "dev", demoUsers: ["alice", "bob", "charlie", "demo"] } },
    });
    renderApp(<SignInPage />, { fetch: m.fetch, path: "/signin", routePath: "/signin" });
    expect(await screen.findByText(/session has expired/)).toBeInTheDocument();
    expect(loadSession()).toBeNull();
  });
});
