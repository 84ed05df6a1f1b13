import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { FunctionObject } from "../api/types";
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

const inAnHour = () => new Date(Date.now() + 3600_000 + 30_000).toISOString();
const tenMinutesAgo = () => new Date(Date.now() - 600_000).toISOString();

const scheduled: FunctionObject = {
  ...sampleFunction,
  spec: {
    ...sampleFunction.spec,
    retry: { maxAttempts: 3 },
    schedules: [{ name: "nightly", cron: "0 3 * * *", timeZone: "Europe/Paris", body: "{}" }],
  },
  status: {
    ...sampleFunction.status,
    schedules: [
      {
        name: "nightly",
        nextRunTime: inAnHour(),
        lastRunTime: tenMinutesAgo(),
        lastInvocationId: "4f0c1a2b-1111-4222-8333-444455556666",
      },
    ],
  },
};

function setup(fn: FunctionObject, routes: Parameters<typeof mockFetch>[0] = {}) {
  signedIn();
  const m = mockFetch({
    "GET /v1/me": { body: sampleMe },
    "GET /v1/functions/hello": { body: fn },
    "GET /v1/functions/hello/logs": { body: "" },
    "GET /v1/functions/hello/invocations": { body: { items: [], nextCursor: null } },
    "GET /v1/functions/hello/revisions": { body: { items: [], nextCursor: null } },
    "GET /v1/functions/hello/invoke-keys": { body: { items: [] } },
    ...routes,
  });
  const r = renderApp(<FunctionDetailPage />, {
    fetch: m.fetch,
    path: "/functions/hello",
    routePath: "/functions/:name",
  });
  const put = () => m.calls.find((c) => c.method === "PUT");
  return { ...m, ...r, put };
}

const card = () => screen.getByRole("region", { name: "Schedules" });
const row = (n: number) => screen.getByRole("group", { name: `Schedule ${n}` });

describe("SchedulesCard", () => {
  it("explains schedules when there are none", async () => {
    setup(sampleFunction);
    expect(await screen.findByTestId("schedules-empty")).toHaveTextContent(
      "No schedules. Add one to call hello on a cron schedule: each run is an asynchronous invocation",
    );
    expect(screen.getByTestId("retry-summary")).toHaveTextContent(
      "Attempts per asynchronous invocation: the platform's default.",
    );
  });

  it("shows each schedule with its next and last run, and the attempts", async () => {
    const { container } = setup(scheduled);
    const item = await screen.findByTestId("schedule-nightly");
    expect(item).toHaveTextContent("0 3 * * *");
    expect(item).toHaveTextContent("Europe/Paris");
    expect(within(item).getByTestId("schedule-next-run")).toHaveTextContent("(in 1h)");
    expect(within(item).getByTestId("schedule-last-run")).toHaveTextContent("(10m ago)");
    expect(screen.getByTestId("retry-summary")).toHaveTextContent(
      "Attempts per asynchronous invocation: 3.",
    );
    await expectAccessible(container);
  });

  it("adds a schedule with a PUT of the whole spec and shows its next run", async () => {
    const saved: FunctionObject = {
      ...scheduled,
      spec: {
        ...scheduled.spec,
        retry: { maxAttempts: 7 },
        schedules: [
          ...scheduled.spec.schedules!,
          { name: "hourly", cron: "0 * * * *", timeZone: "UTC" },
        ],
      },
      status: {
        ...scheduled.status,
        schedules: [
          ...scheduled.status.schedules!,
          { name: "hourly", nextRunTime: inAnHour(), lastRunTime: null },
        ],
      },
    };
    let current = scheduled;
    const { put } = setup(scheduled, {
      "GET /v1/functions/hello": () => ({ body: current }),
      "PUT /v1/functions/hello": () => {
        current = saved;
        return { body: saved };
      },
    });
    await screen.findByTestId("schedule-nightly");
    await userEvent.click(screen.getByRole("button", { name: "Edit schedules" }));
    expect(within(row(1)).getByLabelText("Name")).toHaveValue("nightly");
    await userEvent.click(screen.getByRole("button", { name: "Add schedule" }));
    const second = row(2);
    await waitFor(() => expect(within(second).getByLabelText("Name")).toHaveFocus());
    await userEvent.type(within(second).getByLabelText("Name"), "hourly");
    await userEvent.type(within(second).getByLabelText("Cron"), "0 * * * *");
    await userEvent.type(within(second).getByLabelText("Time zone"), "UTC");
    const attempts = screen.getByLabelText("Attempts per invocation");
    expect(attempts).toHaveValue("3");
    await userEvent.clear(attempts);
    await userEvent.type(attempts, "7");
    await userEvent.click(screen.getByRole("button", { name: "Save schedules" }));

    const item = await screen.findByTestId("schedule-hourly");
    expect(within(item).getByTestId("schedule-next-run")).toHaveTextContent("(in 1h)");
    expect(within(item).getByTestId("schedule-last-run")).toHaveTextContent("Not yet");
    expect(await put()!.json()).toEqual({
      image: "nginx:alpine",
      replicas: 1,
      env: [{ name: "GREETING", value: "hi" }],
      resources: {
        requests: { cpu: "100m", memory: "128Mi" },
        limits: { cpu: "500m", memory: "512Mi" },
      },
      port: 8080,
      timeoutSeconds: 30,
      retry: { maxAttempts: 7 },
      schedules: [
        { name: "nightly", cron: "0 3 * * *", timeZone: "Europe/Paris", body: "{}" },
        { name: "hourly", cron: "0 * * * *", timeZone: "UTC" },
      ],
    });
    expect(screen.getByTestId("retry-summary")).toHaveTextContent(": 7.");
  }, 15_000);

  it("opens an accessible editor", async () => {
    const { container } = setup(scheduled);
    await userEvent.click(await screen.findByRole("button", { name: "Edit schedules" }));
    expect(within(row(1)).getByLabelText("Cron")).toHaveValue("0 3 * * *");
    expect(within(row(1)).getByLabelText("Time zone")).toHaveValue("Europe/Paris");
    expect(within(row(1)).getByLabelText(/^Body/)).toHaveValue("{}");
    await expectAccessible(container);
  }, 15_000);

  it("removes schedules and leaves retries to the platform when blank", async () => {
    const { put } = setup(scheduled, { "PUT /v1/functions/hello": { body: sampleFunction } });
    await userEvent.click(await screen.findByRole("button", { name: "Edit schedules" }));
    await userEvent.click(screen.getByRole("button", { name: "Remove schedule nightly" }));
    expect(screen.queryByRole("group", { name: "Schedule 1" })).toBeNull();
    await userEvent.clear(screen.getByLabelText("Attempts per invocation"));
    await userEvent.click(screen.getByRole("button", { name: "Save schedules" }));
    await screen.findByTestId("schedules-empty");
    const body = (await put()!.json()) as Record<string, unknown>;
    expect(body).not.toHaveProperty("schedules");
    expect(body).not.toHaveProperty("retry");
    expect(body.image).toBe("nginx:alpine");
  });

  it("checks the rows before sending and focuses the first problem", async () => {
    const { put } = setup(sampleFunction);
    await userEvent.click(await screen.findByRole("button", { name: "Edit schedules" }));
    await userEvent.click(screen.getByRole("button", { name: "Add schedule" }));
    await userEvent.type(within(row(1)).getByLabelText("Name"), "Nightly");
    await userEvent.type(within(row(1)).getByLabelText("Cron"), "0 3 *");
    await userEvent.type(screen.getByLabelText("Attempts per invocation"), "30");
    await userEvent.click(screen.getByRole("button", { name: "Save schedules" }));
    const name = within(row(1)).getByLabelText("Name");
    expect(name).toHaveAccessibleDescription(/lowercase letters, digits and '-'/);
    expect(name).toHaveAttribute("aria-invalid", "true");
    await waitFor(() => expect(name).toHaveFocus());
    expect(within(row(1)).getByLabelText("Cron")).toHaveAccessibleDescription(
      /5 fields \(minute hour day-of-month month day-of-week\)/,
    );
    expect(screen.getByLabelText("Attempts per invocation")).toHaveAccessibleDescription(
      "Attempts must be between 1 and 20.",
    );
    expect(put()).toBeUndefined();
  });

  it("shows the server's refusal next to the field it names", async () => {
    setup(scheduled, {
      "PUT /v1/functions/hello": platformError(
        422,
        "validation_failed",
        "schedules[1].cron: fires every 1 s; the platform allows at most one run every 60 s",
        "schedules[1].cron",
      ),
    });
    await userEvent.click(await screen.findByRole("button", { name: "Edit schedules" }));
    await userEvent.click(screen.getByRole("button", { name: "Add schedule" }));
    await userEvent.type(within(row(2)).getByLabelText("Name"), "often");
    await userEvent.type(within(row(2)).getByLabelText("Cron"), "* * * * * *");
    await userEvent.click(screen.getByRole("button", { name: "Save schedules" }));
    const cron = within(row(2)).getByLabelText("Cron");
    await waitFor(() =>
      expect(cron).toHaveAccessibleDescription(
        "fires every 1 s; the platform allows at most one run every 60 s",
      ),
    );
    await waitFor(() => expect(cron).toHaveFocus());
    expect(within(row(1)).getByLabelText("Cron")).not.toHaveAttribute("aria-invalid");
    expect(screen.queryByText("Could not save")).toBeNull();
  });

  it("shows other refusals as a banner", async () => {
    setup(scheduled, {
      "PUT /v1/functions/hello": platformError(
        422,
        "validation_failed",
        "replicas: must be between 0 and 2",
        "replicas",
      ),
    });
    await userEvent.click(await screen.findByRole("button", { name: "Edit schedules" }));
    await userEvent.click(screen.getByRole("button", { name: "Save schedules" }));
    const form = screen.getByRole("form", { name: "Edit schedules" });
    expect(await within(form).findByRole("alert")).toHaveTextContent(
      "Could not savereplicas: must be between 0 and 2",
    );
    // still editing, nothing lost
    expect(within(row(1)).getByLabelText("Name")).toHaveValue("nightly");
    expect(card()).toBeInTheDocument();
  });
});
