import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { QueryClient } from "@tanstack/react-query";
import type { Secret } from "../api/types";
import { expectAccessible, mockFetch, platformError, renderApp, signedIn } from "../test/utils";
import { Secrets } from "./Secrets";
import {
  checkSecretForm,
  formatBytes,
  newSecretRow,
  secretServerErrors,
  validateSecretKey,
  validateSecretName,
} from "./secret";

const db: Secret = {
  name: "db",
  keys: ["password", "user"],
  sizeBytes: 1536,
  version: 2,
  createdAt: "2026-12-01T10:00:00.000Z",
  updatedAt: "2026-12-01T10:00:00.000Z",
};

/** Everything TanStack Query holds: every query's data and every mutation's variables. */
function cached(qc: QueryClient): string {
  return JSON.stringify([
    qc
      .getQueryCache()
      .getAll()
      .map((q) => [q.queryKey, q.state.data]),
    qc
      .getMutationCache()
      .getAll()
      .map((m) => [m.state.variables, m.state.data]),
  ]);
}

function setup(routes: Parameters<typeof mockFetch>[0]) {
  signedIn();
  const m = mockFetch(routes);
  const r = renderApp(<Secrets />, { fetch: m.fetch });
  return { ...m, ...r, user: userEvent.setup() };
}

describe("Secrets", () => {
  it("explains secrets when there are none", async () => {
    const { container } = setup({ "GET /v1/secrets": { body: { items: [] } } });
    const empty = await screen.findByTestId("secrets-empty");
    expect(empty).toHaveTextContent("No secrets yet.");
    expect(empty).toHaveTextContent("/var/eventflow/secrets/NAME/KEY");
    expect(empty).toHaveTextContent(/environment variable/);
    await expectAccessible(container);
  });

  it("lists secrets with their keys, size, version and age", async () => {
    const { container } = setup({ "GET /v1/secrets": { body: { items: [db] } } });
    const row = await screen.findByTestId("secret-db");
    const keys = within(row).getByRole("list", { name: "Keys of db" });
    expect(
      within(keys)
        .getAllByRole("listitem")
        .map((li) => li.textContent),
    ).toEqual(["password", "user"]);
    expect(row).toHaveTextContent("1.5 KiB");
    expect(within(row).getAllByRole("cell")[3]).toHaveTextContent("2");
    expect(row).toHaveTextContent(/ago/);
    expect(screen.getByText("1 of 40 secrets.")).toBeInTheDocument();
    await expectAccessible(container);
  });

  it("creates a secret from hidden values, clears the form and keeps no value anywhere", async () => {
    let items: Secret[] = [];
    const { calls, container, queryClient, user } = setup({
      "GET /v1/secrets": () => ({ body: { items } }),
      "PUT /v1/secrets/api-keys": () => {
        const created = { ...db, name: "api-keys", keys: ["stripe", "token"], version: 1 };
        items = [created];
        return { status: 201, body: created };
      },
    });
    await screen.findByTestId("secrets-empty");
    await user.type(screen.getByLabelText("Name"), "api-keys");
    await user.type(screen.getByLabelText("Key 1"), "token");
    const value1 = screen.getByLabelText("Value 1");
    expect(value1).toHaveAttribute("type", "password");
    await user.type(value1, "tok-s3cret");
    await user.click(screen.getByRole("button", { name: "Add key" }));
    await user.type(screen.getByLabelText("Key 2"), "stripe");
    await user.type(screen.getByLabelText("Value 2"), "sk_live_x");
    // shown on request, hidden again
    const show = screen.getByRole("button", { name: "Show value 2" });
    expect(show).toHaveAttribute("aria-pressed", "false");
    await user.click(show);
    expect(show).toHaveAttribute("aria-pressed", "true");
    expect(screen.getByLabelText("Value 2")).toHaveValue("sk_live_x");
    expect(screen.getByLabelText("Value 2").tagName).toBe("TEXTAREA");
    await user.click(show);
    expect(screen.getByLabelText("Value 2")).toHaveAttribute("type", "password");
    expect(screen.getByText(/now 2 keys, 30 B/)).toBeInTheDocument();
    await expectAccessible(container);

    await user.click(screen.getByRole("button", { name: "Create secret" }));
    expect(await screen.findByRole("status")).toHaveTextContent(
      "Secret api-keys created with 2 keys.",
    );
    const put = calls.find((c) => c.method === "PUT")!;
    expect(new URL(put.url).pathname).toBe("/v1/secrets/api-keys");
    expect(await put.json()).toEqual({ data: { token: "tok-s3cret", stripe: "sk_live_x" } });
    expect(await screen.findByTestId("secret-api-keys")).toBeInTheDocument();
    // cleared: one empty row, no name
    expect(screen.getByLabelText("Name")).toHaveValue("");
    expect(screen.getByLabelText("Key 1")).toHaveValue("");
    expect(screen.getByLabelText("Value 1")).toHaveValue("");
    expect(screen.queryByLabelText("Key 2")).not.toBeInTheDocument();
    for (const v of ["tok-s3cret", "sk_live_x"]) {
      expect(container.textContent).not.toContain(v);
      expect(container.innerHTML).not.toContain(v);
      expect(cached(queryClient)).not.toContain(v);
      expect(put.url).not.toContain(v);
    }
  });

  it("checks names, keys and values before sending", async () => {
    const { calls, user } = setup({ "GET /v1/secrets": { body: { items: [] } } });
    await screen.findByTestId("secrets-empty");
    await user.type(screen.getByLabelText("Name"), "Db_1");
    await user.type(screen.getByLabelText("Key 1"), "a key");
    await user.type(screen.getByLabelText("Value 1"), "x");
    await user.click(screen.getByRole("button", { name: "Add key" }));
    await user.type(screen.getByLabelText("Key 2"), "user");
    await user.click(screen.getByRole("button", { name: "Add key" }));
    await user.type(screen.getByLabelText("Key 3"), "user");
    await user.type(screen.getByLabelText("Value 3"), "y");
    await user.click(screen.getByRole("button", { name: "Create secret" }));

    const name = screen.getByLabelText("Name");
    expect(name).toHaveAttribute("aria-invalid", "true");
    expect(name).toHaveAccessibleDescription(/Lowercase letters, digits and '-' only/);
    expect(screen.getByLabelText("Key 1")).toHaveAccessibleDescription(
      "Letters, digits, '-', '_' and '.' only (and not '.' or '..').",
    );
    expect(screen.getByLabelText("Value 2")).toHaveAccessibleDescription("Enter the value.");
    expect(screen.getByLabelText("Key 3")).toHaveAccessibleDescription(
      'Key "user" is already used above.',
    );
    await waitFor(() => expect(name).toHaveFocus());
    expect(calls.some((c) => c.method === "PUT")).toBe(false);

    // no keys at all
    await user.clear(name);
    await user.type(name, "db");
    for (const n of [3, 2, 1])
      await user.click(screen.getByRole("button", { name: new RegExp(`^Remove key ${n}`) }));
    await user.click(screen.getByRole("button", { name: "Create secret" }));
    expect(screen.getByText("Add at least one key and its value.")).toBeInTheDocument();
    expect(calls.some((c) => c.method === "PUT")).toBe(false);
  });

  it("puts the server's 422 on the row or field it names", async () => {
    const { user } = setup({
      "GET /v1/secrets": { body: { items: [] } },
      "PUT /v1/secrets/db": platformError(
        422,
        "validation_failed",
        "data.password: must not contain NUL characters",
        "data.password",
      ),
    });
    await screen.findByTestId("secrets-empty");
    await user.type(screen.getByLabelText("Name"), "db");
    await user.type(screen.getByLabelText("Key 1"), "password");
    await user.type(screen.getByLabelText("Value 1"), "pw");
    await user.click(screen.getByRole("button", { name: "Create secret" }));
    const key = screen.getByLabelText("Key 1");
    await waitFor(() => expect(key).toHaveAttribute("aria-invalid", "true"));
    expect(key).toHaveAccessibleDescription("must not contain NUL characters");
    await waitFor(() => expect(key).toHaveFocus());
    // kept for a fix: only a save clears the form
    expect(screen.getByLabelText("Value 1")).toHaveValue("pw");
  });

  it("shows the tenant's limit when the server refuses one more secret", async () => {
    const { user } = setup({
      "GET /v1/secrets": { body: { items: [db] } },
      "PUT /v1/secrets/one-more": platformError(
        403,
        "quota_exceeded",
        "a tenant may keep 40 secrets; delete one first",
      ),
    });
    await screen.findByTestId("secret-db");
    await user.type(screen.getByLabelText("Name"), "one-more");
    await user.type(screen.getByLabelText("Key 1"), "k");
    await user.type(screen.getByLabelText("Value 1"), "v");
    await user.click(screen.getByRole("button", { name: "Create secret" }));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("Could not save the secret");
    expect(alert).toHaveTextContent("a tenant may keep 40 secrets; delete one first");
  });

  it("replaces a secret under its name, asking for every value again", async () => {
    let items = [db];
    const { calls, container, user } = setup({
      "GET /v1/secrets": () => ({ body: { items } }),
      "PUT /v1/secrets/db": () => {
        const replaced = { ...db, keys: ["password"], version: 3 };
        items = [replaced];
        return { body: replaced };
      },
    });
    await user.click(await screen.findByRole("button", { name: "Replace secret db" }));
    expect(screen.getByRole("heading", { name: "Replace secret db" })).toBeInTheDocument();
    expect(screen.getByText(/enter every value again/)).toBeInTheDocument();
    const name = screen.getByLabelText("Name");
    expect(name).toHaveValue("db");
    expect(name).toHaveAttribute("readonly");
    // the keys are kept, the values are not (they are never sent to the browser)
    expect(screen.getByLabelText("Key 1")).toHaveValue("password");
    expect(screen.getByLabelText("Key 2")).toHaveValue("user");
    expect(screen.getByLabelText("Value 1")).toHaveValue("");
    await waitFor(() => expect(screen.getByLabelText("Value 1")).toHaveFocus());
    await expectAccessible(container);
    await user.click(screen.getByRole("button", { name: "Replace secret" }));
    expect(screen.getByLabelText("Value 1")).toHaveAccessibleDescription("Enter the value.");
    expect(calls.some((c) => c.method === "PUT")).toBe(false);

    await user.type(screen.getByLabelText("Value 1"), "new-pw");
    await user.click(screen.getByRole("button", { name: "Remove key 2 (user)" }));
    await user.click(screen.getByRole("button", { name: "Replace secret" }));
    expect(await screen.findByRole("status")).toHaveTextContent(
      "Secret db replaced (version 3, 1 key). Functions that read it restart with the new values.",
    );
    const put = calls.find((c) => c.method === "PUT")!;
    expect(await put.json()).toEqual({ data: { password: "new-pw" } });
    expect(screen.getByRole("heading", { name: "New secret" })).toBeInTheDocument();
    expect(screen.getByLabelText("Name")).not.toHaveAttribute("readonly");
    expect(container.innerHTML).not.toContain("new-pw");
  });

  it("asks before deleting and shows the server's refusal while functions read it", async () => {
    let items = [db];
    let inUse = true;
    const { calls, user } = setup({
      "GET /v1/secrets": () => ({ body: { items } }),
      "GET /v1/secrets/db": () => ({ body: { ...db, usedBy: inUse ? ["api"] : [] } }),
      "DELETE /v1/secrets/db": () => {
        if (inUse)
          return platformError(
            409,
            "conflict",
            'secret "db" is used by function api; remove it from their secretEnv and secretFiles first',
          );
        items = [];
        return { status: 204 };
      },
    });
    await user.click(await screen.findByRole("button", { name: "Delete secret db" }));
    const dialog = screen.getByRole("dialog", { name: "Delete secret db?" });
    expect(await within(dialog).findByTestId("secret-used-by")).toHaveTextContent(
      "Read by function api.",
    );
    await expectAccessible(dialog);
    await user.click(within(dialog).getByRole("button", { name: "Delete secret" }));
    expect(await within(dialog).findByRole("alert")).toHaveTextContent(
      'secret "db" is used by function api',
    );
    expect(screen.getByTestId("secret-db")).toBeInTheDocument();

    inUse = false;
    await user.click(within(dialog).getByRole("button", { name: "Delete secret" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(screen.getByRole("status")).toHaveTextContent("Secret db deleted.");
    expect(await screen.findByTestId("secrets-empty")).toBeInTheDocument();
    expect(calls.filter((c) => c.method === "DELETE")).toHaveLength(2);
  });

  it("keeps a multi-line value whole, editable when shown", async () => {
    const { calls, user } = setup({
      "GET /v1/secrets": { body: { items: [] } },
      "PUT /v1/secrets/tls": { status: 201, body: { ...db, name: "tls", keys: ["cert"] } },
    });
    await screen.findByTestId("secrets-empty");
    await user.type(screen.getByLabelText("Name"), "tls");
    await user.type(screen.getByLabelText("Key 1"), "cert");
    await user.click(screen.getByRole("button", { name: "Show value 1" }));
    await user.type(
      screen.getByLabelText("Value 1"),
      "-----BEGIN-----{Enter}abc{Enter}-----END-----",
    );
    await user.click(screen.getByRole("button", { name: "Show value 1" }));
    const hidden = screen.getByLabelText("Value 1");
    expect(hidden).toHaveAttribute("type", "password");
    expect(hidden).toHaveAttribute("readonly");
    expect(hidden).toHaveAccessibleDescription("A value of 3 lines: show it to edit it.");
    await user.click(screen.getByRole("button", { name: "Create secret" }));
    await screen.findByRole("status");
    const put = calls.find((c) => c.method === "PUT")!;
    expect(await put.json()).toEqual({
      data: { cert: "-----BEGIN-----\nabc\n-----END-----" },
    });
  });
});

describe("secret checks", () => {
  it("follow the server's rules for names and keys", () => {
    expect(validateSecretName("db")).toBeNull();
    expect(validateSecretName("a".repeat(56))).toBeNull();
    expect(validateSecretName("a".repeat(57))).toBe("At most 56 characters.");
    expect(validateSecretName("")).toBe("Enter a name.");
    expect(validateSecretName("-db")).toBe("Start and end with a letter or digit.");
    expect(validateSecretName("DB")).toMatch(/found "D"/);
    expect(validateSecretKey("tls.crt")).toBeNull();
    expect(validateSecretKey("DB_PASSWORD-2")).toBeNull();
    expect(validateSecretKey("k".repeat(253))).toBeNull();
    expect(validateSecretKey("k".repeat(254))).toMatch(/1 to 253/);
    expect(validateSecretKey("")).toMatch(/1 to 253/);
    expect(validateSecretKey(".")).toMatch(/not '\.'/);
    expect(validateSecretKey("..")).toMatch(/not '\.'/);
    expect(validateSecretKey("a/b")).toMatch(/only/);
  });

  it("build the data to send, ignoring empty rows, and count bytes as UTF-8", () => {
    const a = { ...newSecretRow("user"), value: "app" };
    const empty = newSecretRow();
    expect(checkSecretForm("db", [a, empty])).toEqual({ errors: {}, data: { user: "app" } });
    const big = { ...newSecretRow("k"), value: "é".repeat(32 * 1024) };
    expect(checkSecretForm("db", [big]).errors).toEqual({
      data: "Keys and values must total at most 65536 bytes (64 KiB).",
    });
    const many = Array.from({ length: 65 }, (_, i) => ({ ...newSecretRow(`k${i}`), value: "v" }));
    expect(checkSecretForm("db", many).errors).toEqual({
      data: "At most 64 keys are allowed.",
    });
    // a replacement does not check the name it keeps
    expect(checkSecretForm("", [a], { checkName: false }).data).toEqual({ user: "app" });
  });

  it("map the server's fields onto the form", () => {
    const a = { ...newSecretRow("password"), value: "x" };
    expect(secretServerErrors("name", "bad", [a])).toEqual({ name: "bad" });
    expect(secretServerErrors("data", "too big", [a])).toEqual({ data: "too big" });
    expect(secretServerErrors("data.password", "NUL", [a])).toEqual({ [a.id]: "NUL" });
    expect(secretServerErrors("data.other", "bad", [a])).toEqual({ data: "other: bad" });
    expect(secretServerErrors(undefined, "x", [a])).toBeNull();
    expect(secretServerErrors("registry", "x", [a])).toBeNull();
  });

  it("formats sizes", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1024)).toBe("1 KiB");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(65536)).toBe("64 KiB");
  });
});
