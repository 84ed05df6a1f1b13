import { afterEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { InvokeKey, NewInvokeKey } from "../api/types";
import {
  expectAccessible,
  mockFetch,
  platformError,
  renderApp,
  sampleFunction,
  signedIn,
} from "../test/utils";
import { InvokeKeysCard } from "./InvokeKeysCard";

const LIST = "GET /v1/functions/hello/invoke-keys";
const CREATE = "POST /v1/functions/hello/invoke-keys";
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();
const inDays = (d: number) => new Date(Date.now() + d * 86_400_000 + 60_000).toISOString();

function key(id: string, fields: Partial<InvokeKey> = {}): InvokeKey {
  return {
    id,
    function: "hello",
    name: `key-${id}`,
    prefix: `efi_${id.padEnd(8, "x")}`,
    createdAt: ago(2 * 3600_000),
    expiresAt: null,
    revokedAt: null,
    lastUsedAt: null,
    active: true,
    ...fields,
  };
}

const github = key("gh", {
  name: "github",
  prefix: "efi_AbCdEfGh",
  expiresAt: inDays(29),
  lastUsedAt: ago(3 * 60_000),
});
const revoked = key("old", { name: "old-hook", revokedAt: ago(60_000), active: false });
const expired = key("exp", { name: "trial", expiresAt: ago(3 * 86_400_000), active: false });

const SECRET = "efi_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789ab";
/** The key the server makes, as it lists it and as it answers the POST (the only time with `key`). */
const stripe = key("new", { name: "stripe", prefix: "efi_AbCdEfGh", expiresAt: inDays(30) });
const made: NewInvokeKey = { ...stripe, key: SECRET };

function setup(routes: Parameters<typeof mockFetch>[0]) {
  signedIn();
  const m = mockFetch(routes);
  const r = renderApp(<InvokeKeysCard fn={sampleFunction} />, { fetch: m.fetch });
  const sent = (method: string) => m.calls.filter((c) => c.method === method);
  return { ...m, ...r, sent };
}

const card = () => screen.getByRole("region", { name: "Invoke keys" });
const entry = (k: InvokeKey) => screen.getByTestId(`invoke-key-${k.id}`);

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("InvokeKeysCard", () => {
  it("says there are none yet", async () => {
    const { container } = setup({ [LIST]: { body: { items: [] } } });
    expect(await screen.findByTestId("invoke-keys-empty")).toHaveTextContent("No keys yet.");
    expect(card()).toHaveTextContent(/A key that may invoke hello and nothing else/);
    await expectAccessible(container);
  });

  it("lists keys with their prefix, dates and whether they still work", async () => {
    const { container } = setup({ [LIST]: { body: { items: [github, revoked, expired] } } });
    await screen.findByTestId(`invoke-key-${github.id}`);
    expect(entry(github)).toHaveTextContent("github active");
    expect(entry(github)).toHaveTextContent("Prefixefi_AbCdEfGh…");
    expect(entry(github)).toHaveTextContent("Created2h ago");
    expect(within(entry(github)).getByTestId("invoke-key-expires")).toHaveTextContent("(in 29d)");
    expect(within(entry(github)).getByTestId("invoke-key-last-used")).toHaveTextContent("3m ago");
    expect(entry(revoked)).toHaveTextContent("old-hook revoked");
    expect(entry(revoked)).toHaveTextContent("Revoked1m ago");
    expect(within(entry(revoked)).getByTestId("invoke-key-expires")).toHaveTextContent("never");
    expect(within(entry(revoked)).getByTestId("invoke-key-last-used")).toHaveTextContent("never");
    expect(entry(expired)).toHaveTextContent("trial expired");
    expect(entry(expired)).toHaveTextContent("Expired3d ago");
    // only working keys can be revoked
    expect(
      within(entry(github)).getByRole("button", { name: "Revoke key github" }),
    ).toBeInTheDocument();
    expect(within(entry(revoked)).queryByRole("button", { name: /Revoke/ })).toBeNull();
    expect(within(entry(expired)).queryByRole("button", { name: /Revoke/ })).toBeNull();
    await expectAccessible(container);
  });

  it("creates a key and shows it once, with a warning and an example request", async () => {
    let items = [github];
    const { sent, container } = setup({
      [LIST]: () => ({ body: { items } }),
      [CREATE]: () => {
        items = [github, stripe];
        return { status: 201, body: made };
      },
    });
    await screen.findByTestId(`invoke-key-${github.id}`);
    await userEvent.type(screen.getByLabelText("Key name"), "  stripe ");
    await userEvent.selectOptions(screen.getByLabelText("Expires"), "In 30 days");
    await userEvent.click(screen.getByRole("button", { name: "Create key" }));

    const field = await screen.findByLabelText("Invoke key");
    expect(field).toHaveValue(SECRET);
    expect(field).toHaveAttribute("readonly");
    await waitFor(() => expect(field).toHaveFocus());
    expect(field).toHaveAccessibleDescription(/Copy it now: it is shown only once/);
    const shown = screen.getByTestId("invoke-key-created");
    expect(shown).toHaveTextContent("Key “stripe” created");
    expect(screen.getByTestId("invoke-key-curl")).toHaveTextContent(
      `curl -X POST ${window.location.origin}/v1/functions/hello/invoke -H "Authorization: Bearer ${SECRET}"`,
    );
    expect(await sent("POST")[0]!.json()).toEqual({ name: "stripe", expiresInSeconds: 2592000 });
    // in the list at once, without the key; the form is ready for another
    const listed = screen.getByTestId(`invoke-key-${made.id}`);
    expect(listed).toHaveTextContent("stripe active");
    expect(listed).not.toHaveTextContent(SECRET);
    expect(screen.getByLabelText("Key name")).toHaveValue("");
    expect(screen.getByLabelText("Expires")).toHaveValue("never");
    await expectAccessible(container);

    // once dismissed it is gone for good
    await userEvent.click(screen.getByRole("button", { name: "I have copied it" }));
    expect(screen.queryByTestId("invoke-key-created")).toBeNull();
    expect(container).not.toHaveTextContent(SECRET);
  });

  it("copies the key to the clipboard", async () => {
    const writeText = vi.fn(() => Promise.resolve());
    setup({ [LIST]: { body: { items: [] } }, [CREATE]: { status: 201, body: made } });
    await userEvent.type(await screen.findByLabelText("Key name"), "stripe");
    await userEvent.click(screen.getByRole("button", { name: "Create key" }));
    await screen.findByLabelText("Invoke key");
    // user-event installs its own clipboard; replace it after setup
    vi.stubGlobal("navigator", { ...navigator, clipboard: { writeText } });
    await userEvent.click(screen.getByRole("button", { name: "Copy the key" }));
    expect(writeText).toHaveBeenCalledWith(SECRET);
    const shown = screen.getByTestId("invoke-key-created");
    expect(await within(shown).findByText("Copied.")).toBeInTheDocument();
  });

  it("sends no expiry for a key that lasts until revoked", async () => {
    const { sent } = setup({
      [LIST]: { body: { items: [] } },
      [CREATE]: { status: 201, body: { ...made, expiresAt: null } },
    });
    await userEvent.type(await screen.findByLabelText("Key name"), "stripe");
    await userEvent.click(screen.getByRole("button", { name: "Create key" }));
    await screen.findByLabelText("Invoke key");
    expect(await sent("POST")[0]!.json()).toEqual({ name: "stripe" });
  });

  it("checks the name before sending", async () => {
    const { sent } = setup({ [LIST]: { body: { items: [] } } });
    await screen.findByTestId("invoke-keys-empty");
    await userEvent.click(screen.getByRole("button", { name: "Create key" }));
    const name = screen.getByLabelText("Key name");
    expect(name).toHaveAttribute("aria-invalid", "true");
    expect(name).toHaveAccessibleDescription("Give the key a name, e.g. what it is for.");
    await waitFor(() => expect(name).toHaveFocus());
    await userEvent.type(name, "x".repeat(65));
    await userEvent.click(screen.getByRole("button", { name: "Create key" }));
    expect(name).toHaveAccessibleDescription("At most 64 characters.");
    expect(sent("POST")).toHaveLength(0);
  });

  it("shows the server's refusal on the field it names", async () => {
    setup({
      [LIST]: { body: { items: [] } },
      [CREATE]: platformError(
        422,
        "validation_failed",
        "expiresInSeconds: must be between 60 and 31622400",
        "expiresInSeconds",
      ),
    });
    await userEvent.type(await screen.findByLabelText("Key name"), "stripe");
    await userEvent.selectOptions(screen.getByLabelText("Expires"), "In 1 year");
    await userEvent.click(screen.getByRole("button", { name: "Create key" }));
    const expires = screen.getByLabelText("Expires");
    await waitFor(() =>
      expect(expires).toHaveAccessibleDescription("must be between 60 and 31622400"),
    );
    expect(expires).toHaveAttribute("aria-invalid", "true");
    await waitFor(() => expect(expires).toHaveFocus());
    expect(screen.getByLabelText("Key name")).not.toHaveAttribute("aria-invalid");
    expect(screen.queryByRole("alert")).toBeNull();
    expect(screen.queryByLabelText("Invoke key")).toBeNull();
  });

  it("shows the name refusal on the name", async () => {
    setup({
      [LIST]: { body: { items: [] } },
      [CREATE]: platformError(
        422,
        "validation_failed",
        "name: 1–64 characters, no control characters",
        "name",
      ),
    });
    await userEvent.type(await screen.findByLabelText("Key name"), "stripe");
    await userEvent.click(screen.getByRole("button", { name: "Create key" }));
    await waitFor(() =>
      expect(screen.getByLabelText("Key name")).toHaveAccessibleDescription(
        "1–64 characters, no control characters",
      ),
    );
  });

  it("says when the function has all the keys it may have", async () => {
    setup({
      [LIST]: { body: { items: [github] } },
      [CREATE]: platformError(
        403,
        "quota_exceeded",
        'function "hello" has 20 invoke keys, the most it may have',
      ),
    });
    await userEvent.type(await screen.findByLabelText("Key name"), "one-more");
    await userEvent.click(screen.getByRole("button", { name: "Create key" }));
    expect(await screen.findByRole("alert")).toHaveTextContent(
      'Could not create the keyfunction "hello" has 20 invoke keys',
    );
  });

  it("disables Create once there are 20 keys", async () => {
    const many = Array.from({ length: 20 }, (_, i) =>
      key(`k${i}`, { revokedAt: ago(1000), active: false }),
    );
    setup({ [LIST]: { body: { items: many } } });
    await screen.findByTestId("invoke-key-k0");
    expect(screen.getByRole("button", { name: "Create key" })).toBeDisabled();
    expect(card()).toHaveTextContent("hello has 20 keys, the most it may have");
  });

  it("revokes a key after confirmation", async () => {
    let items = [github];
    const { sent } = setup({
      [LIST]: () => ({ body: { items } }),
      [`DELETE /v1/functions/hello/invoke-keys/${github.id}`]: () => {
        items = [{ ...github, revokedAt: new Date().toISOString(), active: false }];
        return { status: 204 };
      },
    });
    await screen.findByTestId(`invoke-key-${github.id}`);
    await userEvent.click(screen.getByRole("button", { name: "Revoke key github" }));
    const dialog = screen.getByRole("dialog", { name: "Revoke key “github”?" });
    expect(dialog).toHaveAccessibleDescription(
      /Requests with this key \(\s*efi_AbCdEfGh…\s*\) are refused at once\. This cannot be undone\./,
    );
    await userEvent.click(within(dialog).getByRole("button", { name: "Cancel" }));
    expect(sent("DELETE")).toHaveLength(0);

    await userEvent.click(screen.getByRole("button", { name: "Revoke key github" }));
    await userEvent.click(screen.getByRole("button", { name: "Revoke key" }));
    await waitFor(() => expect(entry(github)).toHaveTextContent("github revoked"));
    expect(sent("DELETE")).toHaveLength(1);
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(within(card()).getByText(/^Key “github” revoked/)).toHaveTextContent(
      "Key “github” revoked: requests with it are refused.",
    );
    expect(within(entry(github)).queryByRole("button", { name: /Revoke/ })).toBeNull();
    await waitFor(() => expect(within(entry(github)).getByText("github")).toHaveFocus());
  });

  it("shows an error with a retry when the keys cannot be loaded", async () => {
    setup({ [LIST]: platformError(503, "unavailable", "the catalog is not reachable") });
    expect(await screen.findByRole("alert")).toHaveTextContent(
      "Could not load the invoke keysthe catalog is not reachable",
    );
    expect(screen.getByRole("button", { name: "Try again" })).toBeInTheDocument();
  });
});
