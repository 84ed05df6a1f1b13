// End-to-end: the built dashboard against a real `eventflow server --dev`
// (SQLite, dev login) in headless Chromium. Run with `npm run e2e`.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  axeViolations,
  requirePrerequisites,
  screenshot,
  SCREENSHOT_DIR,
  startBrowser,
  startServer,
  startUpstream,
} from "./harness.mjs";

const FN = "hello-e2e";
const PHASE = /^(Pending|Deploying|Running|Failed)$/;
// The sample the server offers (`--sample-image`). The e2e server has no node that runs
// containers, so the image need not exist: the step checks the function is created with it.
const ECHO_IMAGE = "127.0.0.1:26450/samples/echo:v1";
// A function whose invocations reach a local stand-in for its container
// (--invoke-static): asynchronous invocations and schedules really run.
const ASYNC_FN = "async-e2e";
// Another function behind the stand-in: its history is rolled back, and an invoke key calls it.
const HOOK_FN = "hook-e2e";
// A secret with two keys, and a function (no cluster: it need only be accepted) that reads one
// key as a variable and mounts the whole secret.
const SECRET = "e2e-db";
const SECRET_FN = "secret-e2e";
// A function behind the stand-in whose calls the Metrics card counts.
const METRICS_FN = "metrics-e2e";

describe("dashboard end to end", { timeout: 240_000 }, () => {
  let server;
  let upstream;
  let browser;
  let page;
  const shots = [];

  const shot = async (name, opts) => shots.push(await screenshot(page, name, opts));
  const checkA11y = async (where) => {
    const v = await axeViolations(page);
    assert.deepEqual(v, [], `accessibility problems on ${where}: ${JSON.stringify(v, null, 2)}`);
  };
  /** Screenshot at phone width and check nothing overflows sideways. */
  const narrow = async (name) => {
    await page.setViewportSize({ width: 360, height: 740 });
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 360, `${name}: page is ${width}px wide at a 360px viewport`);
    await shot(name);
    await page.setViewportSize({ width: 1280, height: 860 });
  };
  const signIn = async (user) => {
    await page.goto(`${server.baseUrl}/signin`);
    await page.getByRole("button", { name: `Sign in as ${user}` }).click();
    await page.getByRole("heading", { level: 1, name: "Functions" }).waitFor();
    assert.equal(await page.getByTestId("current-tenant").textContent(), user);
  };
  const signOut = async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { level: 1, name: "Sign in" }).waitFor();
  };

  before(async () => {
    const { bin, browser: chromiumPath } = requirePrerequisites();
    // Answers 503 to the first attempt of /flaky (so it is retried), else 200 with what it got.
    upstream = await startUpstream((req, body) => {
      const attempt = Number(req.headers["x-eventflow-attempt"] ?? 0);
      if (req.url.startsWith("/flaky") && attempt < 2)
        return { status: 503, headers: { "content-type": "text/plain" }, body: "warming up" };
      const schedule = req.headers["x-eventflow-schedule"] ?? null;
      return {
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ method: req.method, url: req.url, attempt, schedule, body }),
      };
    });
    server = await startServer(bin, [
      "--sample-image",
      `echo=${ECHO_IMAGE}`,
      "--invoke-static",
      `alice/${ASYNC_FN}=${upstream.url},alice/${HOOK_FN}=${upstream.url},alice/${METRICS_FN}=${upstream.url}`,
      "--async-retry-base-ms",
      "300",
      // lets the test's schedule fire every few seconds
      "--schedule-min-interval-seconds",
      "1",
    ]);
    browser = await startBrowser(chromiumPath);
    page = browser.page;
    page.setDefaultTimeout(15_000);
  });

  after(async () => {
    await browser?.stop();
    await server?.stop();
    await upstream?.stop();
    console.log(`screenshots (${shots.length}) in ${SCREENSHOT_DIR}`);
    if (server) console.log(`server log: ${server.logPath}`);
  });

  it("serves the dashboard with SPA fallback and cache headers", async () => {
    const res = await fetch(`${server.baseUrl}/functions/some/deep/link`);
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.match(html, /<div id="root">/);
    assert.match(res.headers.get("cache-control") ?? "", /no-cache/);
    // Security headers; the rest of this suite runs with the CSP on, and any
    // violation ("Refused to …") is a console error that fails it.
    assert.match(res.headers.get("content-security-policy") ?? "", /script-src 'self'/);
    assert.match(res.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/);
    assert.equal(res.headers.get("x-frame-options"), "DENY");
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.equal(res.headers.get("referrer-policy"), "no-referrer");
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(asset, "index.html references a hashed script");
    const js = await fetch(`${server.baseUrl}${asset}`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get("cache-control") ?? "", /immutable/);
    // API paths never fall back to the page
    const api = await fetch(`${server.baseUrl}/v1/nope`);
    assert.equal(api.status, 404);
    assert.match(api.headers.get("content-type") ?? "", /json/);
  });

  it("shows the dev-mode sign-in page", async () => {
    await page.goto(`${server.baseUrl}/`);
    await page.getByRole("heading", { level: 1, name: "Sign in" }).waitFor();
    // The demo users come from /auth/config, which loads after the heading.
    for (const u of ["alice", "bob", "charlie", "demo"]) {
      await page.getByRole("button", { name: `Sign in as ${u}` }).waitFor({ state: "visible" });
    }
    await shot("01-sign-in");
    await narrow("01-sign-in-360px");
    await checkA11y("sign-in");
  });

  it("signs in as alice and shows the empty state", async () => {
    await signIn("alice");
    await page.getByRole("heading", { name: "No functions yet" }).waitFor();
    await shot("02-functions-empty");
    await checkA11y("functions (empty)");
  });

  it("rejects an invalid name on its field", async () => {
    await page.getByRole("link", { name: /New function/ }).click();
    await page.getByRole("heading", { level: 1, name: "New function" }).waitFor();
    await page.getByLabel("Name", { exact: true }).fill("Bad_Name!");
    await page.getByLabel("Image", { exact: true }).fill("nginx:alpine");
    await page.getByRole("button", { name: "Create function" }).click();
    const name = page.getByLabel("Name", { exact: true });
    assert.equal(await name.getAttribute("aria-invalid"), "true");
    const described = await name.getAttribute("aria-describedby");
    const error = await page.locator(`[id="${described.split(" ").at(-1)}"]`).textContent();
    assert.match(error, /lowercase letters, digits and '-'/);
    assert.ok(
      await name.evaluate((el) => el === document.activeElement),
      "focus moves to the invalid field",
    );
    await shot("03-create-invalid-name");
    await narrow("03-create-invalid-name-360px");
    await checkA11y("create (invalid)");
  });

  it("shows the server's error on the field it names", async () => {
    // The form never sends an invalid name; ask the API directly to prove the
    // server names the field the form relies on.
    const token = await page.evaluate(
      () => JSON.parse(sessionStorage.getItem("eventflow.session")).token,
    );
    const res = await fetch(`${server.baseUrl}/v1/functions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ name: "Bad_Name", image: "nginx:alpine" }),
    });
    assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}`);
    const body = await res.json();
    assert.equal(body.error.field, "name");
  });

  it("creates a function and opens it", async () => {
    await page.getByLabel("Name", { exact: true }).fill(FN);
    await page.getByRole("button", { name: "Add variable" }).click();
    await page.getByLabel("Variable 1 name").fill("GREETING");
    await page.getByLabel("Variable 1 value").fill("hello");
    await page.getByRole("button", { name: "Create function" }).click();
    await page.getByRole("heading", { level: 1, name: FN }).waitFor();
    assert.match(
      await page.getByTestId("detail-phase").locator("[data-phase]").textContent(),
      PHASE,
    );
  });

  it("lists the function with its phase", async () => {
    await page.getByRole("link", { name: "All functions" }).click();
    const row = page.getByTestId(`function-row-${FN}`);
    await row.waitFor();
    assert.match(await row.locator("[data-phase]").textContent(), PHASE);
    assert.match(await row.textContent(), /nginx:alpine/);
    assert.match(await row.textContent(), /\d+\/1/);
    await shot("04-functions-list");
    await checkA11y("functions (list)");
    await narrow("05-functions-list-360px");
  });

  it("shows the server's duplicate-name answer on the name field", async () => {
    await page.getByRole("link", { name: /New function/ }).click();
    await page.getByLabel("Name", { exact: true }).fill(FN);
    await page.getByLabel("Image", { exact: true }).fill("nginx:alpine");
    await page.getByRole("button", { name: "Create function" }).click();
    const name = page.getByLabel("Name", { exact: true });
    await page.waitForFunction(
      () => document.querySelector("#field-name")?.getAttribute("aria-invalid") === "true",
    );
    const described = await name.getAttribute("aria-describedby");
    const error = await page.locator(`[id="${described.split(" ").at(-1)}"]`).textContent();
    assert.match(error, /exists/i);
    await shot("05b-create-duplicate-name");
    await page.getByRole("link", { name: "Cancel" }).click();
    await page.getByTestId(`function-row-${FN}`).waitFor();
  });

  it("opens the function and scales it", async () => {
    await page.getByRole("link", { name: FN, exact: true }).click();
    await page.getByRole("heading", { level: 1, name: FN }).waitFor();
    await page.getByRole("button", { name: "Increase replicas" }).click();
    await page.getByRole("button", { name: "Scale", exact: true }).click();
    await page.getByText("Scaled to 2 replicas.").waitFor();
    await page.getByTestId("detail-ready").filter({ hasText: /\/2$/ }).waitFor();
    // invoke: whatever the function (or the gateway without a cluster) answers is shown
    await page.getByRole("button", { name: "Send request" }).click();
    await page.getByTestId("invoke-status").waitFor();
    await shot("06-function-detail");
    await checkA11y("function detail");
    await narrow("07-function-detail-360px");
  });

  it("shows the tenant's namespace and quota", async () => {
    await page.getByRole("link", { name: "Tenant" }).click();
    await page.getByRole("heading", { level: 1, name: "Tenant" }).waitFor();
    await page.getByText("tenant-alice").waitFor();
    await shot("08-tenant");
    await narrow("08-tenant-360px");
    await checkA11y("tenant");
  });

  it("saves a registry login whose password never comes back, and removes it", async () => {
    const secret = "e2e-registry-s3cret";
    await page
      .getByRole("textbox", { name: "Registry", exact: true })
      .fill("registry.example.com:5000");
    await page.getByRole("textbox", { name: "User", exact: true }).fill("ci-robot");
    await page.getByLabel("Password or token").fill(secret);
    await page.getByRole("button", { name: "Save login" }).click();
    await page.getByText("Login for registry.example.com:5000 saved.").waitFor();
    await page.getByRole("cell", { name: "registry.example.com:5000", exact: true }).waitFor();
    assert.equal(await page.getByLabel("Password or token").inputValue(), "");
    assert.ok(!(await page.content()).includes(secret), "the password is on the page");
    // The API lists the login without the password.
    const listed = await page.evaluate(async () => {
      const s = JSON.parse(sessionStorage.getItem("eventflow.session"));
      const r = await fetch("/v1/registry-credentials", {
        headers: { Authorization: `Bearer ${s.token}` },
      });
      return r.text();
    });
    assert.ok(listed.includes("ci-robot") && !listed.includes(secret), listed);
    await shot("08b-registry-login");
    await checkA11y("tenant with a registry login");
    await page
      .getByRole("button", { name: "Remove the login for registry.example.com:5000" })
      .click();
    await page.getByText("No logins yet", { exact: false }).waitFor();
  });

  it("keeps tenants apart: bob sees none of alice's functions", async () => {
    await signOut();
    await signIn("bob");
    await page.getByRole("heading", { name: "No functions yet" }).waitFor();
    assert.equal(await page.getByTestId(`function-row-${FN}`).count(), 0);
    await page.goto(`${server.baseUrl}/functions/${FN}`);
    await page.getByRole("heading", { level: 1, name: "Function not found" }).waitFor();
    await shot("09-bob-cannot-see-alice");
  });

  it("deletes the function after confirmation", async () => {
    await signOut();
    await signIn("alice");
    await page.getByRole("link", { name: FN, exact: true }).click();
    await page.getByRole("heading", { level: 1, name: FN }).waitFor();
    await page.getByRole("button", { name: "Delete", exact: true }).click();
    const dialog = page.getByRole("dialog", { name: `Delete ${FN}?` });
    await dialog.waitFor();
    // the modal overlay is fixed to the viewport: capture just the viewport
    await shot("10-delete-confirm", { fullPage: false });
    await dialog.getByRole("button", { name: "Delete function" }).click();
    await page.getByRole("heading", { level: 1, name: "Functions" }).waitFor();
    await page.getByTestId(`function-row-${FN}`).waitFor({ state: "detached" });
    const res = await page.evaluate(
      async (name) =>
        (
          await fetch(`/v1/functions/${name}`, {
            headers: {
              authorization: `Bearer ${JSON.parse(sessionStorage.getItem("eventflow.session")).token}`,
            },
          })
        ).status,
      FN,
    );
    assert.equal(res, 404);
  });

  it("deploys the echo sample from the create page in one step", async () => {
    const api = async (path, init = {}) =>
      page.evaluate(
        async ({ path, init }) => {
          const token = JSON.parse(sessionStorage.getItem("eventflow.session")).token;
          const r = await fetch(path, {
            ...init,
            headers: { ...init.headers, authorization: `Bearer ${token}` },
          });
          return { status: r.status, body: r.status === 204 ? null : await r.json() };
        },
        { path, init },
      );
    const samples = await api("/v1/samples");
    assert.equal(samples.status, 200);
    assert.deepEqual(
      samples.body.items.map((s) => [s.name, s.image]),
      [["echo", ECHO_IMAGE]],
    );

    await page.getByRole("link", { name: /New function/ }).click();
    await page.getByRole("heading", { level: 2, name: "Start from a sample" }).waitFor();
    await page.getByText(/prints one log line per request/).waitFor();
    await shot("11-create-samples");
    await checkA11y("create (samples)");
    await narrow("11-create-samples-360px");
    await page.getByRole("button", { name: "Deploy echo" }).click();
    await page.getByRole("heading", { level: 1, name: "echo" }).waitFor();
    assert.match(page.url(), /\/functions\/echo$/);
    assert.match(
      await page.getByTestId("detail-phase").locator("[data-phase]").textContent(),
      PHASE,
    );
    // the page to call it and read its logs
    await page.getByRole("heading", { level: 2, name: "Invoke", exact: true }).waitFor();
    await page.getByRole("heading", { level: 2, name: "Logs" }).waitFor();
    await page.getByText(ECHO_IMAGE).first().waitFor();
    const fn = await api("/v1/functions/echo");
    assert.equal(fn.status, 200);
    assert.equal(fn.body.spec.image, ECHO_IMAGE);
    await shot("12-echo-detail");

    // Deployed again, the taken name gets a short suffix (the server answered 409 first).
    await page.getByRole("link", { name: "All functions" }).click();
    await page.getByRole("link", { name: /New function/ }).click();
    await page.getByRole("button", { name: "Deploy echo" }).click();
    await page.waitForURL(/\/functions\/echo-[a-z0-9]{4}$/);
    const second = decodeURIComponent(page.url().split("/").at(-1));
    await page.getByRole("heading", { level: 1, name: second }).waitFor();
    const list = await api("/v1/functions");
    const echoes = list.body.items.filter((f) => f.name.startsWith("echo"));
    assert.deepEqual(echoes.map((f) => f.name).sort(), ["echo", second].sort());
    assert.ok(echoes.every((f) => f.spec.image === ECHO_IMAGE));

    // "Use as template" only fills the form
    await page.getByRole("link", { name: "All functions" }).click();
    await page.getByRole("link", { name: /New function/ }).click();
    await page.getByRole("button", { name: "Use as template for echo" }).click();
    assert.equal(await page.getByLabel("Name", { exact: true }).inputValue(), "echo");
    assert.equal(await page.getByLabel("Image", { exact: true }).inputValue(), ECHO_IMAGE);
    assert.equal((await api("/v1/functions")).body.items.length, 2);

    for (const name of ["echo", second]) {
      assert.equal((await api(`/v1/functions/${name}`, { method: "DELETE" })).status, 204);
    }
  });

  it("invokes asynchronously, follows the attempts and schedules runs", async () => {
    const api = async (path, init = {}) =>
      page.evaluate(
        async ({ path, init }) => {
          const token = JSON.parse(sessionStorage.getItem("eventflow.session")).token;
          const r = await fetch(path, {
            ...init,
            headers: { ...init.headers, authorization: `Bearer ${token}` },
          });
          return { status: r.status, body: r.status === 204 ? null : await r.json() };
        },
        { path, init },
      );
    // create it from the form, with 3 attempts per asynchronous invocation
    await page.goto(`${server.baseUrl}/functions/new`);
    await page.getByRole("heading", { level: 1, name: "New function" }).waitFor();
    await page.getByLabel("Name", { exact: true }).fill(ASYNC_FN);
    await page.getByLabel("Image", { exact: true }).fill("nginx:alpine");
    await page.getByLabel("Attempts per invocation").fill("3");
    await page.getByRole("button", { name: "Create function" }).click();
    await page.getByRole("heading", { level: 1, name: ASYNC_FN }).waitFor();
    await page.getByTestId("invocations-empty").waitFor();
    await page.getByTestId("schedules-empty").waitFor();
    assert.match(await page.getByTestId("retry-summary").textContent(), /: 3\.$/);

    // queue a request that fails once, then succeeds
    await page.getByLabel("Method").selectOption("POST");
    await page.getByLabel("Path").fill("/flaky");
    await page.getByLabel(/^Body/).fill('{"job":1}');
    await page.getByLabel("Asynchronous").check();
    await page.getByRole("button", { name: "Queue request" }).click();
    const id = (await page.getByTestId("invoke-async-id").textContent()).trim();
    assert.match(id, /^[0-9a-f-]{36}$/);
    const short = id.split("-")[0];
    // at the top of the history at once, then succeeded after a retry (the list refreshes itself)
    const row = page.getByTestId(`invocation-${id}`);
    await row.waitFor();
    const history = page.getByRole("region", { name: "Invocations" });
    assert.equal(
      await history.locator("tbody tr").first().getAttribute("data-testid"),
      `invocation-${id}`,
    );
    await row.locator('[data-invocation-status="succeeded"]').waitFor();
    assert.equal((await row.getByTestId("invocation-attempts").textContent()).trim(), "2/3");
    assert.equal((await row.getByTestId("invocation-response").textContent()).trim(), "200");
    assert.equal((await row.getByTestId("invocation-source").textContent()).trim(), "API");
    // the Invoke panel follows it too
    await page
      .getByTestId("invoke-async")
      .locator('[data-invocation-status="succeeded"]')
      .waitFor();

    // its attempt log and the function's answer
    await page.getByRole("button", { name: `Details of invocation ${short}` }).click();
    const details = page.getByTestId(`invocation-details-${id}`);
    const first = details.getByTestId("attempt-1");
    await first.waitFor();
    assert.match(await first.textContent(), /503.*retry/);
    assert.match(await details.getByTestId("attempt-2").textContent(), /200.*succeeded/);
    const body = await details.getByLabel(`Response body of invocation ${short}`).textContent();
    assert.deepEqual(JSON.parse(body), {
      method: "POST",
      url: "/flaky",
      attempt: 2,
      schedule: null,
      body: '{"job":1}',
    });
    assert.equal(upstream.requests.filter((r) => r.url === "/flaky").length, 2);
    await shot("13-invocations");
    await checkA11y("function detail with invocations");
    await narrow("13-invocations-360px");

    // a schedule: the server's refusal lands on the field it names, then it saves
    await page.getByRole("button", { name: "Edit schedules" }).click();
    await page.getByRole("button", { name: "Add schedule" }).click();
    const editor = page.getByRole("group", { name: "Schedule 1" });
    await editor.getByLabel("Name", { exact: true }).fill("tick");
    await editor.getByLabel("Cron", { exact: true }).fill("*/3 * * * * *");
    await editor.getByLabel("Time zone", { exact: true }).fill("Mars/Olympus");
    await editor.getByLabel("Body").fill('{"tick":true}');
    await page.getByRole("button", { name: "Save schedules" }).click();
    const zone = editor.getByLabel("Time zone", { exact: true });
    await page.waitForFunction(
      (el) => el.getAttribute("aria-invalid") === "true",
      await zone.elementHandle(),
    );
    const described = await zone.getAttribute("aria-describedby");
    assert.match(
      await page.locator(`[id="${described.split(" ").at(-1)}"]`).textContent(),
      /unknown time zone/,
    );
    await shot("14-schedule-refused");
    await zone.fill("Europe/Paris");
    await page.getByRole("button", { name: "Save schedules" }).click();
    const schedule = page.getByTestId("schedule-tick");
    await schedule.waitFor();
    assert.match(await schedule.getByTestId("schedule-next-run").textContent(), /\(in \d+s\)/);
    assert.match(await schedule.textContent(), /\*\/3 \* \* \* \* \*.*Europe\/Paris/);
    // it runs: the last run shows, and its invocation appears in the history
    await schedule.getByTestId("schedule-last-run").filter({ hasText: /ago/ }).waitFor();
    const scheduled = page
      .getByTestId("invocation-source")
      .filter({ hasText: "schedule tick" })
      .first();
    await scheduled.waitFor();
    const fn = await api(`/v1/functions/${ASYNC_FN}`);
    assert.deepEqual(fn.body.spec.schedules, [
      { name: "tick", cron: "*/3 * * * * *", timeZone: "Europe/Paris", body: '{"tick":true}' },
    ]);
    assert.deepEqual(fn.body.spec.retry, { maxAttempts: 3 });
    assert.ok(upstream.requests.some((r) => r.headers["x-eventflow-schedule"] === "tick"));
    await shot("15-schedules");
    await checkA11y("function detail with a schedule");

    assert.equal((await api(`/v1/functions/${ASYNC_FN}`, { method: "DELETE" })).status, 204);
  });

  it("keeps a history to roll back to, and invokes with a key until it is revoked", async () => {
    const api = async (path, init = {}) =>
      page.evaluate(
        async ({ path, init }) => {
          const token = JSON.parse(sessionStorage.getItem("eventflow.session")).token;
          const r = await fetch(path, {
            ...init,
            headers: { ...init.headers, authorization: `Bearer ${token}` },
          });
          return { status: r.status, body: r.status === 204 ? null : await r.json() };
        },
        { path, init },
      );
    await page.goto(`${server.baseUrl}/functions/new`);
    await page.getByRole("heading", { level: 1, name: "New function" }).waitFor();
    await page.getByLabel("Name", { exact: true }).fill(HOOK_FN);
    await page.getByLabel("Image", { exact: true }).fill("nginx:1.26");
    await page.getByRole("button", { name: "Create function" }).click();
    await page.getByRole("heading", { level: 1, name: HOOK_FN }).waitFor();
    const history = page.getByRole("region", { name: "History" });
    const first = history.getByTestId("revision-1");
    await first.getByTestId("revision-current").waitFor();
    assert.match(await first.textContent(), /nginx:1\.26 · by alice · \d+[smh] ago/);

    // a change from the edit form is revision 2
    await page.getByRole("button", { name: "Edit image & env" }).click();
    await page.getByLabel("Image", { exact: true }).fill("nginx:1.27");
    await page.getByRole("button", { name: "Add variable" }).click();
    await page.getByLabel("Variable 1 name").fill("MODE");
    await page.getByLabel("Variable 1 value").fill("prod");
    await page.getByRole("button", { name: "Save changes" }).click();
    const second = history.getByTestId("revision-2");
    await second.getByTestId("revision-current").waitFor();
    assert.equal(await first.getByTestId("revision-current").count(), 0);
    await history.getByRole("button", { name: "Revision 2", exact: true }).click();
    const changes = history.getByTestId("revision-details-2");
    await changes.getByRole("heading", { name: "Changes from revision 1 to 2" }).waitFor();
    assert.equal(
      (await changes.getByTestId("change-image").textContent()).replace(/\s+/g, " ").trim(),
      "image was nginx:1.26 → now nginx:1.27",
    );
    assert.match(
      await changes.getByTestId("change-env").textContent(),
      /was \[\] → now \[\{"name":"MODE","value":"prod"\}\]/,
    );
    assert.ok(
      await changes.getByRole("button", { name: "Roll back to this revision" }).isDisabled(),
      "the current revision cannot be rolled back to",
    );
    await shot("16-history-diff");
    await checkA11y("function detail with a revision's changes");

    // roll back to revision 1: revision 3, the spec of 1 again
    await history.getByRole("button", { name: "Revision 1", exact: true }).click();
    await history.getByTestId("revision-first").waitFor();
    await history.getByRole("button", { name: "Roll back to this revision" }).click();
    const dialog = page.getByRole("dialog", { name: "Roll back to revision 1?" });
    await dialog.waitFor();
    await shot("17-rollback-confirm", { fullPage: false });
    await checkA11y("rollback dialog");
    await dialog.getByRole("button", { name: "Roll back to revision 1" }).click();
    await history.getByText("Rolled back to revision 1: its spec is now revision 3.").waitFor();
    const third = history.getByTestId("revision-3");
    await third.getByTestId("revision-current").waitFor();
    assert.equal(
      (await third.getByTestId("revision-rollback-of").textContent()).trim(),
      "rollback of 1",
    );
    const spec = page.getByRole("region", { name: "Specification" });
    await spec.getByText("nginx:1.26", { exact: true }).waitFor();
    assert.equal(await spec.getByText("MODE=").count(), 0);
    const fn = await api(`/v1/functions/${HOOK_FN}`);
    assert.equal(fn.body.spec.image, "nginx:1.26");
    assert.deepEqual(fn.body.spec.env, []);
    assert.equal(fn.body.generation, 3);
    await shot("18-history-rolled-back");
    await narrow("18-history-rolled-back-360px");

    // an invoke key, shown once
    const keys = page.getByRole("region", { name: "Invoke keys" });
    await keys.getByTestId("invoke-keys-empty").waitFor();
    await keys.getByLabel("Key name").fill("e2e-hook");
    await keys.getByLabel("Expires").selectOption({ label: "In 1 day" });
    await keys.getByRole("button", { name: "Create key" }).click();
    const field = keys.getByLabel("Invoke key", { exact: true });
    await field.waitFor();
    const key = await field.inputValue();
    assert.match(key, /^efi_/);
    assert.ok(await field.evaluate((el) => el === document.activeElement && el.readOnly));
    await keys.getByText("it is shown only once", { exact: false }).waitFor();
    assert.equal(
      (await keys.getByTestId("invoke-key-curl").textContent()).trim(),
      `curl -X POST ${server.baseUrl}/v1/functions/${HOOK_FN}/invoke -H "Authorization: Bearer ${key}"`,
    );
    const listed = keys.getByRole("listitem").filter({ hasText: "e2e-hook" });
    await listed.locator('[data-key-state="active"]').waitFor();
    await shot("19-invoke-key-created");
    await checkA11y("function detail with a new invoke key");
    await narrow("19-invoke-key-created-360px");
    const created = await api(`/v1/functions/${HOOK_FN}/invoke-keys`);
    assert.equal(created.body.items.length, 1);
    assert.ok(created.body.items[0].expiresAt, "it expires");
    assert.ok(!JSON.stringify(created.body).includes(key), "the list has the key");

    // the key calls the function, and nothing else
    const invoke = (bearer) =>
      fetch(`${server.baseUrl}/v1/functions/${HOOK_FN}/invoke/hook`, {
        method: "POST",
        headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
        body: '{"event":"push"}',
      });
    const ok = await invoke(key);
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), {
      method: "POST",
      url: "/hook",
      attempt: 0,
      schedule: null,
      body: '{"event":"push"}',
    });
    const me = await fetch(`${server.baseUrl}/v1/me`, {
      headers: { authorization: `Bearer ${key}` },
    });
    assert.equal(me.status, 401);

    // shown once: gone after a reload, the list keeps only its prefix
    await page.reload();
    await page.getByRole("heading", { level: 1, name: HOOK_FN }).waitFor();
    await keys.getByText("e2e-hook", { exact: true }).waitFor();
    assert.equal(await keys.getByLabel("Invoke key", { exact: true }).count(), 0);
    assert.ok(!(await page.content()).includes(key), "the key is on the page after a reload");
    // the call above is its last use
    assert.match(await keys.getByTestId("invoke-key-last-used").textContent(), /^\d+[smh] ago$/);

    // revoked, it is refused at once
    await keys.getByRole("button", { name: "Revoke key e2e-hook" }).click();
    const revoke = page.getByRole("dialog", { name: "Revoke key “e2e-hook”?" });
    await revoke.getByRole("button", { name: "Revoke key" }).click();
    await keys.getByText("Key “e2e-hook” revoked: requests with it are refused.").waitFor();
    await keys.locator('[data-key-state="revoked"]').waitFor();
    assert.equal(await keys.getByRole("button", { name: /^Revoke/ }).count(), 0);
    const refused = await invoke(key);
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get("x-eventflow-error"), "unauthorized");
    assert.equal(upstream.requests.filter((r) => r.url === "/hook").length, 1);
    await shot("20-invoke-key-revoked");
    await checkA11y("function detail with a revoked invoke key");

    assert.equal((await api(`/v1/functions/${HOOK_FN}`, { method: "DELETE" })).status, 204);
  });

  it("keeps a secret's values write-only, lets a function read it, and keeps it while in use", async () => {
    const api = async (path, init = {}) =>
      page.evaluate(
        async ({ path, init }) => {
          const token = JSON.parse(sessionStorage.getItem("eventflow.session")).token;
          const r = await fetch(path, {
            ...init,
            headers: { ...init.headers, authorization: `Bearer ${token}` },
          });
          return { status: r.status, text: r.status === 204 ? "" : await r.text() };
        },
        { path, init },
      );
    const values = { user: "e2e-user-v4lue", password: "e2e-pw-v4lue-s3cret" };
    /** No value on the page (text, markup, input values), in storage or in the URL. */
    const noValueAnywhere = async (where) => {
      const seen = await page.evaluate(() =>
        [
          document.documentElement.outerHTML,
          document.body.innerText,
          [...document.querySelectorAll("input, textarea")].map((el) => el.value).join("\n"),
          JSON.stringify({ ...sessionStorage }),
          JSON.stringify({ ...localStorage }),
          location.href,
        ].join("\n"),
      );
      for (const v of Object.values(values))
        assert.ok(!seen.includes(v), `a secret value is on the page (${where})`);
    };

    await page.getByRole("link", { name: "Tenant" }).click();
    await page.getByRole("heading", { level: 1, name: "Tenant" }).waitFor();
    const card = page.getByRole("region", { name: "Secrets" });
    await card.getByTestId("secrets-empty").waitFor();
    assert.match(
      await card.getByTestId("secrets-empty").textContent(),
      /\/var\/eventflow\/secrets\/NAME\/KEY/,
    );

    // create it with two keys, from hidden values
    await card.getByLabel("Name", { exact: true }).fill(SECRET);
    await card.getByLabel("Key 1", { exact: true }).fill("user");
    await card.getByLabel("Value 1", { exact: true }).fill(values.user);
    await card.getByRole("button", { name: "Add key" }).click();
    await card.getByLabel("Key 2", { exact: true }).fill("password");
    const value2 = card.getByLabel("Value 2", { exact: true });
    await value2.fill(values.password);
    assert.equal(await value2.getAttribute("type"), "password");
    await shot("21-secret-form");
    await card.getByRole("button", { name: "Create secret" }).click();
    await card.getByText(`Secret ${SECRET} created with 2 keys.`).waitFor();
    const row = card.getByTestId(`secret-${SECRET}`);
    await row.waitFor();
    assert.deepEqual(
      await row
        .getByRole("list", { name: `Keys of ${SECRET}` })
        .getByRole("listitem")
        .allTextContents(),
      ["password", "user"],
    );
    assert.match(await row.textContent(), /\d+ B/);
    // the form is cleared, and the values are nowhere: not on the page, not from the API
    assert.equal(await card.getByLabel("Name", { exact: true }).inputValue(), "");
    assert.equal(await card.getByLabel("Value 1", { exact: true }).inputValue(), "");
    assert.equal(await card.getByLabel("Key 2", { exact: true }).count(), 0);
    await noValueAnywhere("tenant page after saving");
    for (const path of ["/v1/secrets", `/v1/secrets/${SECRET}`]) {
      const r = await api(path);
      assert.equal(r.status, 200);
      for (const v of Object.values(values)) assert.ok(!r.text.includes(v), `${path}: ${r.text}`);
    }
    await shot("21b-secrets");
    await checkA11y("tenant with a secret");
    await narrow("21b-secrets-360px");

    // a function from the form reads one key as a variable and mounts the secret
    await page.goto(`${server.baseUrl}/functions/new`);
    await page.getByRole("heading", { level: 1, name: "New function" }).waitFor();
    await page.getByLabel("Name", { exact: true }).fill(SECRET_FN);
    await page.getByLabel("Image", { exact: true }).fill("nginx:alpine");
    await page.getByRole("button", { name: "Add secret variable" }).click();
    await page.getByLabel("Secret variable 1 name").fill("DB_PASSWORD");
    await page.getByLabel("Secret variable 1 secret").selectOption(SECRET);
    await page.getByLabel("Secret variable 1 key").selectOption("password");
    await page.getByRole("checkbox", { name: `Mount ${SECRET}` }).check();
    await shot("22-create-with-secrets");
    await checkA11y("create with secrets");
    await page.getByRole("button", { name: "Create function" }).click();
    await page.getByRole("heading", { level: 1, name: SECRET_FN }).waitFor();
    const refs = page.getByTestId("detail-secrets");
    assert.equal(
      (await refs.getByTestId("secret-env-DB_PASSWORD").textContent()).trim(),
      `DB_PASSWORD ← from ${SECRET}/password`,
    );
    assert.match(
      await refs.getByTestId(`secret-file-${SECRET}`).textContent(),
      new RegExp(`^/var/eventflow/secrets/${SECRET}/`),
    );
    const fn = JSON.parse((await api(`/v1/functions/${SECRET_FN}`)).text);
    assert.deepEqual(fn.spec.secretEnv, [{ name: "DB_PASSWORD", secret: SECRET, key: "password" }]);
    assert.deepEqual(fn.spec.secretFiles, [SECRET]);
    await noValueAnywhere("function page");
    await shot("23-function-secret-refs");
    await checkA11y("function detail with secret references");

    // in use, the secret cannot be deleted: the dialog shows the server's 409 naming the function
    await page.getByRole("link", { name: "Tenant" }).click();
    await card.getByRole("button", { name: `Delete secret ${SECRET}` }).click();
    const dialog = page.getByRole("dialog", { name: `Delete secret ${SECRET}?` });
    await dialog.getByTestId("secret-used-by").filter({ hasText: SECRET_FN }).waitFor();
    await dialog.getByRole("button", { name: "Delete secret" }).click();
    const refused = dialog.getByRole("alert");
    await refused.waitFor();
    const message = await refused.textContent();
    assert.match(message, /used by function/);
    assert.ok(message.includes(SECRET_FN), message);
    await shot("24-secret-in-use", { fullPage: false });
    await checkA11y("secret delete refused");
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await row.waitFor();

    // once the function is gone, the secret can go
    await page.goto(`${server.baseUrl}/functions/${SECRET_FN}`);
    await page.getByRole("heading", { level: 1, name: SECRET_FN }).waitFor();
    await page.getByRole("button", { name: "Delete", exact: true }).click();
    await page
      .getByRole("dialog", { name: `Delete ${SECRET_FN}?` })
      .getByRole("button", { name: "Delete function" })
      .click();
    await page.getByRole("heading", { level: 1, name: "Functions" }).waitFor();
    await page.getByRole("link", { name: "Tenant" }).click();
    await card.getByRole("button", { name: `Delete secret ${SECRET}` }).click();
    await dialog.getByRole("button", { name: "Delete secret" }).click();
    await card.getByText(`Secret ${SECRET} deleted.`).waitFor();
    await card.getByTestId("secrets-empty").waitFor();
    assert.equal((await api(`/v1/secrets/${SECRET}`)).status, 404);
  });

  it("counts a function's calls on its Metrics card, switches the range, and lists it on the tenant's Usage card", async () => {
    const api = async (path, init = {}) =>
      page.evaluate(
        async ({ path, init }) => {
          const token = JSON.parse(sessionStorage.getItem("eventflow.session")).token;
          const r = await fetch(path, {
            ...init,
            headers: { ...init.headers, authorization: `Bearer ${token}` },
          });
          const text = await r.text();
          return { status: r.status, body: text };
        },
        { path, init },
      );
    await page.goto(`${server.baseUrl}/functions/new`);
    await page.getByRole("heading", { level: 1, name: "New function" }).waitFor();
    await page.getByLabel("Name", { exact: true }).fill(METRICS_FN);
    await page.getByLabel("Image", { exact: true }).fill("nginx:alpine");
    await page.getByRole("button", { name: "Create function" }).click();
    await page.getByRole("heading", { level: 1, name: METRICS_FN }).waitFor();
    const card = page.getByRole("region", { name: "Metrics" });
    // nothing yet: the empty state says when calls appear
    await card.getByTestId("metrics-empty").waitFor();
    assert.match(
      await card.getByTestId("metrics-empty").textContent(),
      /^No invocations in the last hour\. Calls through the gateway appear here within 10 seconds/,
    );

    // one call from the Invoke panel, three more with the session token
    await page.getByLabel("Method").selectOption("GET");
    await page.getByLabel("Path").fill("/one");
    await page.getByRole("button", { name: "Send request" }).click();
    await page.getByTestId("invoke-status").waitFor();
    for (const n of [2, 3, 4]) {
      const r = await api(`/v1/functions/${METRICS_FN}/invoke/call-${n}`);
      assert.equal(r.status, 200, r.body);
    }
    // the card refetches every 10 s; a reload asks at once
    await page.reload();
    await page.getByRole("heading", { level: 1, name: METRICS_FN }).waitFor();
    await card.getByTestId("metrics-calls-2xx").waitFor();
    assert.equal((await card.getByTestId("metrics-calls-2xx").textContent()).trim(), "2xx 4");
    assert.equal((await card.getByTestId("metrics-errors").textContent()).trim(), "0%");
    assert.match(await card.getByTestId("metrics-latency").textContent(), /p50 .*ms/);
    // the charts are drawn, and their numbers are there for screen readers
    await card.getByTestId("metrics-chart-calls").locator("canvas").waitFor();
    assert.match(
      await card.getByTestId("metrics-chart-calls").getAttribute("aria-label"),
      /^Calls per 1 min step, stacked by outcome: 4 in the last hour/,
    );
    assert.ok((await card.getByTestId("metrics-table").locator("tbody tr").count()) >= 1);
    // replicas on the same time axis (this server has no cluster: none asked for or ready)
    await card.getByTestId("metrics-chart-replicas").locator("canvas").waitFor();
    assert.match(
      await card.getByTestId("metrics-chart-replicas").getAttribute("aria-label"),
      /^Replicas per 1 min step, the most asked for and the most ready: asked for at most \d+, ready at most 0/,
    );
    // CPU and memory need Prometheus scraping the nodes: one quiet line says so
    await card.getByTestId("metrics-no-usage").waitFor();
    assert.equal(await card.getByTestId("metrics-chart-cpu").count(), 0);
    // no 7 days from the embedded store
    assert.deepEqual(
      await card.getByRole("group", { name: "Time range" }).getByRole("button").allTextContents(),
      ["15 min", "1 h", "6 h", "24 h"],
    );
    const chartWidth = (await card.getByTestId("metrics-chart-calls").boundingBox()).width;

    // the last 6 hours: wider steps (about 60 of them), the same calls
    const range = card.getByRole("group", { name: "Time range" });
    await range.getByRole("button", { name: "6 h" }).click();
    assert.equal(
      await range.getByRole("button", { name: "6 h" }).getAttribute("aria-pressed"),
      "true",
    );
    await card.getByText(/^([2-9]|\d{2,}) min steps/).waitFor();
    assert.equal((await card.getByTestId("metrics-calls-2xx").textContent()).trim(), "2xx 4");
    await card.scrollIntoViewIfNeeded();
    await shot("25-metrics-6h");
    await checkA11y("metrics card");
    // the charts follow their container down to phone width (ResizeObserver, a frame later)
    await page.setViewportSize({ width: 360, height: 740 });
    await page.waitForFunction(
      () => document.querySelector('[data-testid="metrics-chart-calls"] canvas')?.clientWidth < 340,
    );
    await narrow("25-metrics-6h-360px");
    // and back up
    await page.waitForFunction(
      (w) =>
        document.querySelector('[data-testid="metrics-chart-calls"] canvas')?.clientWidth >= w - 2,
      chartWidth,
    );

    // the tenant page's Usage card: all functions together, the one called listed with its calls
    await page.setViewportSize({ width: 1280, height: 860 });
    await page.getByRole("link", { name: "Tenant" }).click();
    await page.getByRole("heading", { level: 1, name: "Tenant" }).waitFor();
    const usage = page.getByRole("region", { name: "Usage" });
    const top = usage.getByRole("table", { name: "Most calls" });
    const row = top.getByRole("row").filter({ has: page.getByRole("link", { name: METRICS_FN }) });
    await row.waitFor();
    assert.deepEqual(await row.getByRole("cell").allTextContents(), ["4", "0%"]);
    assert.ok(
      Number((await usage.getByTestId("usage-calls").textContent()).replace(/,/g, "")) >= 4,
    );
    await usage.getByTestId("usage-chart-calls").locator("canvas").waitFor();
    assert.match(
      await usage.getByTestId("usage-chart-calls").getAttribute("aria-label"),
      /^Calls of all functions per 1 min step, stacked by outcome: \d+ in the last hour/,
    );
    await usage.getByTestId("usage-top-errors-empty").waitFor();
    await usage.getByTestId("usage-no-pods").waitFor();
    await usage.scrollIntoViewIfNeeded();
    await shot("26-tenant-usage");
    await checkA11y("tenant usage card");
    await page.setViewportSize({ width: 360, height: 740 });
    await page.waitForFunction(
      () => document.querySelector('[data-testid="usage-chart-calls"] canvas')?.clientWidth < 340,
    );
    await narrow("26-tenant-usage-360px");
    // the name leads to the function's page
    await row.getByRole("link", { name: METRICS_FN }).click();
    await page.getByRole("heading", { level: 1, name: METRICS_FN }).waitFor();

    assert.equal((await api(`/v1/functions/${METRICS_FN}`, { method: "DELETE" })).status, 204);
  });

  it("sends an expired session back to sign-in with a message", async () => {
    await page.evaluate(() => {
      const s = JSON.parse(sessionStorage.getItem("eventflow.session"));
      sessionStorage.setItem(
        "eventflow.session",
        JSON.stringify({ ...s, token: "not-a-valid-token" }),
      );
    });
    await page.goto(`${server.baseUrl}/tenant`);
    await page.getByText("Your session has expired. Please sign in again.").waitFor();
  });

  it("logged no console errors", () => {
    assert.deepEqual(browser.problems, []);
  });
});
