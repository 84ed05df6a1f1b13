import { describe, expect, it } from "vitest";
import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { FunctionObject, Revision, RevisionDiff } from "../api/types";
import {
  expectAccessible,
  mockFetch,
  platformError,
  renderApp,
  sampleFunction,
  sampleMe,
  signedIn,
} from "../test/utils";
import { FunctionDetailPage } from "./FunctionDetailPage";

const LIST = "GET /v1/functions/hello/revisions";
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();

/** hello as it is now: revision 2 (a new image and env over revision 1). */
const current: FunctionObject = { ...sampleFunction, generation: 2 };

function revision(n: number, fields: Partial<Revision> = {}): Revision {
  return {
    revision: n,
    spec: sampleFunction.spec,
    actor: "alice",
    createdAt: ago(5 * 60_000),
    rollbackOf: null,
    current: false,
    ...fields,
  };
}

const rev1 = revision(1, {
  spec: { ...sampleFunction.spec, image: "nginx:1.26", env: [] },
  createdAt: ago(3 * 3600_000),
});
const rev2 = revision(2, { current: true });

const diff2: RevisionDiff = {
  from: 1,
  to: 2,
  changes: [
    { path: "autoscaling", from: { minReplicas: 1, maxReplicas: 3 } },
    { path: "env", from: [], to: [{ name: "GREETING", value: "hi" }] },
    { path: "image", from: "nginx:1.26", to: "nginx:alpine" },
  ],
};

const page = (items: Revision[], nextCursor: string | null = null) => ({
  body: { items, nextCursor },
});

function setup(routes: Parameters<typeof mockFetch>[0] = {}, fn: FunctionObject = current) {
  signedIn();
  const m = mockFetch({
    "GET /v1/me": { body: sampleMe },
    "GET /v1/functions/hello": { body: fn },
    "GET /v1/functions/hello/logs": { body: "" },
    "GET /v1/functions/hello/invocations": { body: { items: [], nextCursor: null } },
    "GET /v1/functions/hello/invoke-keys": { body: { items: [] } },
    [LIST]: page([rev2, rev1]),
    "GET /v1/functions/hello/revisions/2/diff": { body: diff2 },
    ...routes,
  });
  const r = renderApp(<FunctionDetailPage />, {
    fetch: m.fetch,
    path: "/functions/hello",
    routePath: "/functions/:name",
  });
  const posts = () => m.calls.filter((c) => c.method === "POST");
  return { ...m, ...r, posts };
}

const card = () => screen.getByRole("region", { name: "History" });
const item = (n: number) => screen.getByTestId(`revision-${n}`);
const open = (n: number) =>
  userEvent.click(within(card()).getByRole("button", { name: `Revision ${n}` }));

describe("HistoryCard", () => {
  it("lists revisions newest first with the current one, image, author and age", async () => {
    const rollback = revision(3, { rollbackOf: 1, current: true, actor: "bob" });
    const { container } = setup({
      [LIST]: page([rollback, { ...rev2, current: false }, rev1]),
    });
    await screen.findByTestId("revision-3");
    const items = within(card()).getAllByRole("listitem");
    expect(items.map((li) => li.dataset.testid)).toEqual([
      "revision-3",
      "revision-2",
      "revision-1",
    ]);
    expect(within(item(3)).getByTestId("revision-current")).toHaveTextContent("current");
    expect(within(item(3)).getByTestId("revision-rollback-of")).toHaveTextContent("rollback of 1");
    expect(item(3)).toHaveTextContent("nginx:alpine · by bob · 5m ago");
    expect(within(item(2)).queryByTestId("revision-current")).toBeNull();
    expect(within(item(2)).queryByTestId("revision-rollback-of")).toBeNull();
    expect(item(1)).toHaveTextContent("nginx:1.26 · by alice · 3h ago");
    expect(within(card()).getByRole("button", { name: "Revision 1" })).toHaveAttribute(
      "aria-expanded",
      "false",
    );
    await expectAccessible(container);
  });

  it("shows the image digest each revision ran on, short, with the full one in the title", async () => {
    const digest = `sha256:${"0123456789abcdef".repeat(4)}`;
    const { container } = setup({
      [LIST]: page([
        { ...rev2, imageDigest: digest },
        { ...rev1, imageDigest: null },
      ]),
    });
    await screen.findByTestId("revision-2");
    const shown = within(item(2)).getByTestId("revision-digest");
    expect(within(shown).getByText("sha256:0123456789ab")).toHaveAttribute("aria-hidden", "true");
    expect(shown).toHaveAttribute("title", digest);
    // screen readers hear the full one
    expect(within(shown).getByText(`image digest ${digest}`)).toHaveClass("sr-only");
    expect(item(2)).toHaveTextContent(
      `nginx:alpine sha256:0123456789ab image digest ${digest} · by alice · 5m ago`,
    );
    // nothing when it is not known
    expect(within(item(1)).queryByTestId("revision-digest")).toBeNull();
    expect(item(1)).toHaveTextContent("nginx:1.26 · by alice · 3h ago");
    await expectAccessible(container);

    // opened, the full digest
    await open(2);
    expect(within(item(2)).getByTestId("revision-digest-full")).toHaveTextContent(
      `Image digest: ${digest}`,
    );
    await expectAccessible(container);
    await open(1);
    expect(within(item(1)).getByTestId("revision-digest-full")).toHaveTextContent(
      "Image digest: not known (this revision has not run on a node that reports one)",
    );
  });

  it("opens a revision to what it changed from the one before", async () => {
    const { container } = setup();
    await screen.findByTestId("revision-2");
    await open(2);
    expect(within(card()).getByRole("button", { name: "Revision 2" })).toHaveAttribute(
      "aria-expanded",
      "true",
    );
    const details = screen.getByTestId("revision-details-2");
    expect(
      await within(details).findByRole("heading", { name: "Changes from revision 1 to 2" }),
    ).toBeInTheDocument();
    expect(within(details).getByTestId("change-image")).toHaveTextContent(
      "image was nginx:1.26 → now nginx:alpine",
    );
    // objects as compact JSON; a field that is gone says so
    expect(within(details).getByTestId("change-env")).toHaveTextContent(
      'env was [] → now [{"name":"GREETING","value":"hi"}]',
    );
    expect(within(details).getByTestId("change-autoscaling")).toHaveTextContent(
      'autoscaling removed was {"minReplicas":1,"maxReplicas":3} → now not set',
    );
    // the current revision cannot be rolled back to
    const rollback = within(details).getByRole("button", { name: "Roll back to this revision" });
    expect(rollback).toBeDisabled();
    expect(rollback).toHaveAccessibleDescription("This is the current spec.");
    await expectAccessible(container);
  });

  it("says the first revision is the first, without asking for a diff", async () => {
    const { calls } = setup();
    await screen.findByTestId("revision-1");
    await open(1);
    expect(screen.getByTestId("revision-first")).toHaveTextContent(
      "The first revision: hello as it was created, with image nginx:1.26.",
    );
    expect(calls.some((c) => c.url.includes("/revisions/1/diff"))).toBe(false);
    // opening another closes it
    await open(2);
    expect(screen.queryByTestId("revision-details-1")).toBeNull();
    await screen.findByTestId("change-image");
  });

  it("loads older revisions with the cursor", async () => {
    const { calls } = setup({
      [LIST]: (req) =>
        new URL(req.url).searchParams.get("cursor") === "2" ? page([rev1]) : page([rev2], "2"),
    });
    await screen.findByTestId("revision-2");
    expect(screen.queryByTestId("revision-1")).toBeNull();
    await userEvent.click(within(card()).getByRole("button", { name: "Load more" }));
    await screen.findByTestId("revision-1");
    expect(within(card()).queryByRole("button", { name: "Load more" })).toBeNull();
    const listed = calls.filter((c) => new URL(c.url).pathname.endsWith("/revisions"));
    expect(new URL(listed.at(-1)!.url).searchParams.get("cursor")).toBe("2");
    expect(new URL(listed[0]!.url).searchParams.get("limit")).toBe("20");
  });

  it("rolls back after confirmation, then shows the restored spec and the new revision", async () => {
    let fn = current;
    let revisions = [rev2, rev1];
    const restored: FunctionObject = {
      ...current,
      generation: 3,
      spec: rev1.spec,
    };
    const { posts } = setup({
      "GET /v1/functions/hello": () => ({ body: fn }),
      [LIST]: () => page(revisions),
      "POST /v1/functions/hello/rollback": () => {
        fn = restored;
        revisions = [
          revision(3, { spec: rev1.spec, rollbackOf: 1, current: true }),
          { ...rev2, current: false },
          rev1,
        ];
        return { body: restored };
      },
    });
    await screen.findByTestId("revision-1");
    await open(1);
    const button = within(screen.getByTestId("revision-details-1")).getByRole("button", {
      name: "Roll back to this revision",
    });
    await userEvent.click(button);
    const dialog = screen.getByRole("dialog", { name: "Roll back to revision 1?" });
    expect(dialog).toHaveAccessibleDescription(/hello gets the spec of revision 1 again/);
    expect(within(dialog).getByRole("button", { name: "Cancel" })).toHaveFocus();
    await userEvent.click(within(dialog).getByRole("button", { name: "Roll back to revision 1" }));

    expect(await within(card()).findByText(/^Rolled back to revision 1/)).toHaveTextContent(
      "Rolled back to revision 1: its spec is now revision 3.",
    );
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(await posts()[0]!.json()).toEqual({ revision: 1 });
    // the function and its history are loaded again
    const third = await screen.findByTestId("revision-3");
    expect(within(third).getByTestId("revision-current")).toBeInTheDocument();
    expect(within(third).getByTestId("revision-rollback-of")).toHaveTextContent("rollback of 1");
    expect(within(item(2)).queryByTestId("revision-current")).toBeNull();
    const spec = screen.getByRole("region", { name: "Specification" });
    expect(within(spec).getByText("nginx:1.26")).toBeInTheDocument();
    expect(within(spec).getByText("None")).toBeInTheDocument();
    // focus is back on the button that opened the dialog
    expect(button).toHaveFocus();
  }, 15_000);

  it("says so when the revision's spec is already the current one", async () => {
    setup({ "POST /v1/functions/hello/rollback": { body: current } });
    await screen.findByTestId("revision-1");
    await open(1);
    await userEvent.click(screen.getByRole("button", { name: "Roll back to this revision" }));
    await userEvent.click(screen.getByRole("button", { name: "Roll back to revision 1" }));
    expect(
      await within(card()).findByText("Nothing changed: hello already has the spec of revision 1."),
    ).toBeInTheDocument();
  });

  it("keeps the dialog open with the server's refusal, and cancels without a call", async () => {
    const { posts } = setup({
      "POST /v1/functions/hello/rollback": platformError(
        422,
        "validation_failed",
        "replicas: must be between 0 and 2",
        "replicas",
      ),
    });
    await screen.findByTestId("revision-1");
    await open(1);
    const button = screen.getByRole("button", { name: "Roll back to this revision" });
    await userEvent.click(button);
    await userEvent.click(screen.getByRole("button", { name: "Cancel" }));
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(posts()).toHaveLength(0);
    expect(button).toHaveFocus();

    await userEvent.click(button);
    await userEvent.click(screen.getByRole("button", { name: "Roll back to revision 1" }));
    const dialog = screen.getByRole("dialog", { name: "Roll back to revision 1?" });
    expect(await within(dialog).findByRole("alert")).toHaveTextContent(
      "Could not roll backreplicas: must be between 0 and 2",
    );
    expect(posts()).toHaveLength(1);
  });

  it("loads the history again when the function changes", async () => {
    let revisions = [rev2, rev1];
    const edited: FunctionObject = {
      ...current,
      generation: 3,
      spec: { ...current.spec, image: "nginx:1.27" },
    };
    setup({
      [LIST]: () => page(revisions),
      "PATCH /v1/functions/hello": () => {
        revisions = [
          revision(3, { spec: edited.spec, current: true }),
          { ...rev2, current: false },
          rev1,
        ];
        return { body: edited };
      },
    });
    await screen.findByTestId("revision-2");
    await userEvent.click(screen.getByRole("button", { name: "Edit image & env" }));
    const image = screen.getByLabelText("Image");
    await userEvent.clear(image);
    await userEvent.type(image, "nginx:1.27");
    await userEvent.click(screen.getByRole("button", { name: "Save changes" }));
    const third = await screen.findByTestId("revision-3");
    expect(third).toHaveTextContent("nginx:1.27");
    expect(within(third).getByTestId("revision-current")).toBeInTheDocument();
  });

  it("says when there are no revisions", async () => {
    setup({ [LIST]: page([]) });
    expect(await screen.findByTestId("history-empty")).toHaveTextContent(
      "No revisions recorded yet.",
    );
  });

  it("shows an error with a retry when the history cannot be loaded", async () => {
    let fail = true;
    setup({
      [LIST]: () =>
        fail ? platformError(503, "unavailable", "the catalog is not reachable") : page([rev1]),
    });
    const alert = await within(await screen.findByRole("region", { name: "History" })).findByRole(
      "alert",
    );
    expect(alert).toHaveTextContent("Could not load the historythe catalog is not reachable");
    fail = false;
    await userEvent.click(within(alert).getByRole("button", { name: "Try again" }));
    await screen.findByTestId("revision-1");
  });
});
