// End-to-end on testenv's real node: the built dashboard against a real `eventflow server`
// and `eventflow operator` pointed at testenv (docs/DEVELOPMENT.md, "testenv" and "The real
// node"). Through the dashboard, as a tenant of its own: deploy the echo sample, wait until
// it runs, invoke it, read its log line, see its calls and ready replica on the Metrics card
// and on the tenant's Usage card, make it crash until the page says why, delete it.
// Missing parts (testenv, its real node, the sample image) fail loudly; nothing is skipped.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import {
  axeViolations,
  freePort,
  requirePrerequisites,
  RESULTS_DIR,
  screenshot,
  SCREENSHOT_DIR,
  screenshotOf,
  startBrowser,
  startServer,
  WEB_DIR,
} from "./harness.mjs";

const REAL_NODE = "testenv-node-1";
const REGISTRY = "127.0.0.1:26450";
const ECHO_IMAGE = `${REGISTRY}/samples/echo:v1`;
/** CoreDNS of testenv's node answers on the node's bridge address. */
const NODE_DNS_CIDR = "10.246.0.1/32";
const FN = "echo";
/** A tenant of this run only: the operator reconciles nothing else. */
const TENANT = `e2e-rn-${Date.now().toString(36)}-${process.pid.toString(36)}`;
const NAMESPACE = `tenant-${TENANT}`;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const run = promisify(execFile);

function testenvKubeconfig() {
  if (process.env.EVENTFLOW_TESTENV_KUBECONFIG) return process.env.EVENTFLOW_TESTENV_KUBECONFIG;
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(cache, "eventflow", "testenv", "state", "kubeconfig");
}

/** `kubectl --kubeconfig <kc> args…`: stdout, or throws with stderr. */
async function kubectl(kubeconfig, ...args) {
  const { stdout } = await run("kubectl", ["--kubeconfig", kubeconfig, ...args], {
    timeout: 30_000,
    maxBuffer: 16 << 20,
  });
  return stdout;
}

/** testenv is up with its real node Ready, and the sample image is in its registry. */
async function requireRealNode() {
  const kubeconfig = testenvKubeconfig();
  const start =
    `Start testenv and push the samples (from the repository root):\n` +
    `  testenv/up && examples/functions/build\n` +
    `(see docs/DEVELOPMENT.md, "testenv" and "The real node").`;
  if (!existsSync(kubeconfig)) {
    throw new Error(
      `testenv's kubeconfig ${kubeconfig} does not exist: testenv is not running.\n${start}`,
    );
  }
  let ready;
  try {
    ready = await kubectl(
      kubeconfig,
      "get",
      "node",
      REAL_NODE,
      "-o",
      'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
    );
  } catch (e) {
    throw new Error(
      `kubectl cannot get testenv's real node ${REAL_NODE}: ${e.stderr || e.message}\n` +
        `(kubectl comes from scripts/install-deps; testenv must run with its real node, ` +
        `EVENTFLOW_TESTENV_NODE=on.)\n${start}`,
    );
  }
  if (ready.trim() !== "True") {
    throw new Error(`testenv's real node ${REAL_NODE} is not Ready (Ready=${ready}).\n${start}`);
  }
  let tags = "";
  try {
    const r = await fetch(`http://${REGISTRY}/v2/samples/echo/tags/list`, {
      signal: AbortSignal.timeout(5000),
    });
    tags = await r.text();
  } catch (e) {
    tags = String(e);
  }
  if (!tags.includes('"v1"')) {
    throw new Error(
      `The sample image ${ECHO_IMAGE} is not in testenv's registry (${tags.trim()}).\n` +
        `Push it:  examples/functions/build  (or make images), from the repository root.`,
    );
  }
  return kubeconfig;
}

/**
 * `eventflow operator` for this run's tenant only, logging to `realnode-operator.log` in the
 * results dir; resolves when its /healthz answers.
 */
async function startOperator(bin, kubeconfig) {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const logPath = join(RESULTS_DIR, "realnode-operator.log");
  const log = createWriteStream(logPath);
  const metrics = `127.0.0.1:${await freePort()}`;
  const args = [
    "operator",
    "--kubeconfig",
    kubeconfig,
    "--no-leader-election",
    "--metrics-listen",
    metrics,
    "--dns-cidr",
    NODE_DNS_CIDR,
    "--label-selector",
    `eventflow.io/tenant=${TENANT}`,
    "--log-format",
    "text",
  ];
  const child = spawn(bin, args, {
    cwd: WEB_DIR,
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  let exited = null;
  child.on("exit", (code, signal) => {
    exited = { code, signal };
  });
  // Even if this process dies without running `after`, the operator goes with it.
  const killOnExit = () => child.kill("SIGKILL");
  process.on("exit", killOnExit);
  const stop = async () => {
    process.off("exit", killOnExit);
    if (!exited) {
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await new Promise((r) => (exited ? r() : child.once("exit", r)));
      clearTimeout(t);
    }
    log.end();
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(
        `eventflow operator exited early (${JSON.stringify(exited)}); args: ${args.join(" ")}; see ${logPath}`,
      );
    }
    try {
      if ((await fetch(`http://${metrics}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`eventflow operator did not answer /healthz in 60s; see ${logPath}`);
    }
    await sleep(250);
  }
  return { logPath, stop };
}

describe("dashboard on testenv's real node", { timeout: 900_000 }, () => {
  let kubeconfig;
  let server;
  let operator;
  let browser;
  let page;
  let deleted = false;
  const shots = [];

  const shot = async (name, opts) => shots.push(await screenshot(page, `realnode-${name}`, opts));
  const cardShot = async (locator, name) =>
    shots.push(await screenshotOf(locator, `realnode-${name}`));
  // Calls the gateway answered (whatever the status), and those the browser got no answer to.
  let answered = 0;
  let unanswered = 0;
  let answered2xx = 0;
  const checkA11y = async (where) => {
    const v = await axeViolations(page);
    assert.deepEqual(v, [], `accessibility problems on ${where}: ${JSON.stringify(v, null, 2)}`);
  };
  /** Calls the API from the page with the signed-in session's token. */
  const api = (path, init = {}) =>
    page.evaluate(
      async ({ path, init }) => {
        const token = JSON.parse(sessionStorage.getItem("eventflow.session")).token;
        const r = await fetch(path, {
          ...init,
          headers: { ...init.headers, authorization: `Bearer ${token}` },
        });
        return { status: r.status, body: await r.text() };
      },
      { path, init },
    );
  const podsOfFn = async () =>
    JSON.parse(
      await kubectl(
        kubeconfig,
        "-n",
        NAMESPACE,
        "get",
        "pods",
        "-l",
        `eventflow.io/function=${FN}`,
        "-o",
        "json",
      ),
    ).items;
  /** Waits (bounded) until the Function and its pods are gone from the cluster. */
  const waitGoneFromCluster = async (secs) => {
    const deadline = Date.now() + secs * 1000;
    for (;;) {
      const fns = await kubectl(
        kubeconfig,
        "-n",
        NAMESPACE,
        "get",
        "functions.eventflow.io",
        "-o",
        "name",
      );
      const pods = await podsOfFn();
      if (fns.trim() === "" && pods.length === 0) return;
      assert.ok(
        Date.now() < deadline,
        `after ${secs}s the cluster still has ${fns.trim() || "no Function"} and ${pods.length} pods`,
      );
      await sleep(1000);
    }
  };

  const statusCard = () => page.getByRole("region", { name: "Status", exact: true });
  const invokeCard = () => page.getByRole("region", { name: "Invoke", exact: true });
  const logsCard = () => page.getByRole("region", { name: "Logs", exact: true });
  /**
   * Sends one request from the Invoke panel and waits for its answer (not the previous
   * one's: the old answer leaves the page while the new request is pending).
   * Returns the status text ("200 OK") or "failed" when the browser got no answer.
   */
  const invoke = async ({ method, path, body }) => {
    const panel = invokeCard();
    await panel.getByLabel("Method").selectOption(method);
    await panel.getByLabel("Path").fill(path);
    if (body !== undefined) await panel.getByLabel(/^Body/).fill(body);
    const answer = panel.getByTestId("invoke-status").or(panel.getByText("The request failed"));
    const previous = (await answer.count()) > 0 ? await answer.elementHandle() : null;
    await panel.getByRole("button", { name: "Send request" }).click();
    if (previous) await previous.waitForElementState("hidden");
    await answer.waitFor({ timeout: 60_000 });
    const status = panel.getByTestId("invoke-status");
    const text = (await status.count()) > 0 ? (await status.textContent()).trim() : "failed";
    if (text === "failed") unanswered += 1;
    else answered += 1;
    if (/^2\d\d/.test(text)) answered2xx += 1;
    return text;
  };

  before(async () => {
    const { bin, browser: chromiumPath } = requirePrerequisites();
    kubeconfig = await requireRealNode();
    const started = Date.now();
    server = await startServer(
      bin,
      [
        "--kubeconfig",
        kubeconfig,
        "--install-crds",
        "--resync-seconds",
        "2",
        "--sample-image",
        `echo=${ECHO_IMAGE}`,
      ],
      { logName: "realnode-server.log" },
    );
    operator = await startOperator(bin, kubeconfig);
    console.log(`tenant ${TENANT}: server and operator up in ${Date.now() - started} ms`);
    browser = await startBrowser(chromiumPath);
    page = browser.page;
    page.setDefaultTimeout(15_000);
  });

  after(async () => {
    try {
      // A failed run still removes its function, so that no pod keeps running on the node.
      if (page && !deleted) {
        const r = await api(`/v1/functions/${FN}`, { method: "DELETE" }).catch(() => null);
        if (r?.status === 204) await waitGoneFromCluster(90).catch((e) => console.log(e.message));
      }
    } finally {
      // The run's Tenant goes too, while its operator still runs the
      // finalizer that removes the namespace.
      if (operator) {
        await kubectl(
          testenvKubeconfig(),
          "delete",
          "tenants.eventflow.io",
          TENANT,
          "--timeout=90s",
        ).catch((e) => console.log(`could not delete tenant ${TENANT}: ${e.message}`));
      }
      await browser?.stop();
      await operator?.stop();
      await server?.stop();
      console.log(`screenshots (${shots.length}) in ${SCREENSHOT_DIR}`);
      if (server) console.log(`server log: ${server.logPath}`);
      if (operator) console.log(`operator log: ${operator.logPath}`);
    }
  });

  it("signs in as the run's own tenant", async () => {
    await page.goto(`${server.baseUrl}/signin`);
    await page.getByRole("heading", { level: 1, name: "Sign in" }).waitFor();
    await page.getByLabel("Or another user id").fill(TENANT);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.getByRole("heading", { level: 1, name: "Functions" }).waitFor();
    assert.equal(await page.getByTestId("current-tenant").textContent(), TENANT);
    await page.getByRole("heading", { name: "No functions yet" }).waitFor();
    await shot("01-signed-in");
  });

  it("deploys the echo sample from the create page", async () => {
    await page.getByRole("link", { name: /New function/ }).click();
    await page.getByRole("heading", { level: 2, name: "Start from a sample" }).waitFor();
    await page.getByRole("button", { name: `Deploy ${FN}` }).click();
    await page.getByRole("heading", { level: 1, name: FN }).waitFor();
    assert.match(page.url(), new RegExp(`/functions/${FN}$`));
    await shot("02-deployed");
  });

  it("shows it Running on the real node", async () => {
    const started = Date.now();
    await page
      .getByTestId("detail-phase")
      .locator('[data-phase="Running"]')
      .waitFor({ timeout: 180_000 });
    await page
      .getByTestId("detail-ready")
      .filter({ hasText: /^1\/1$/ })
      .waitFor();
    console.log(`Running after ${Date.now() - started} ms`);
    const pods = await podsOfFn();
    assert.equal(pods.length, 1, `one pod: ${pods.map((p) => p.metadata.name)}`);
    assert.equal(pods[0].spec.nodeName, REAL_NODE, "the pod runs on the real node");
    assert.match(pods[0].status.containerStatuses[0].containerID, /^containerd:\/\//);
    await shot("03-running");
    await checkA11y("function detail (running)");
  });

  it("invokes it from the Invoke panel and gets the body back", async () => {
    const marker = `{"hello":"${TENANT}"}`;
    // A new pod is reachable through its NetworkPolicy only after kube-router's next sync
    // (~1–2 s): until then the gateway answers 502/503/504. Bounded retries.
    const deadline = Date.now() + 60_000;
    let status;
    for (;;) {
      status = await invoke({ method: "POST", path: "/", body: marker });
      if (status.startsWith("200")) break;
      assert.ok(Date.now() < deadline, `the function never answered 200; last: ${status}`);
      await sleep(2000);
    }
    const body = await invokeCard().getByLabel("Response body").textContent();
    assert.deepEqual(JSON.parse(body), { hello: TENANT });
    await shot("04-invoked");
  });

  it("shows the invocation's log line in the Logs panel", async () => {
    const logs = logsCard();
    await logs.scrollIntoViewIfNeeded();
    await logs.getByText("Live", { exact: true }).waitFor();
    await logs
      .getByLabel(`Log output of ${FN}`)
      .getByText(/echo: POST \/ \d+ bytes/)
      .first()
      .waitFor({ timeout: 60_000 });
    await shot("05-logs");
  });

  it("counts the calls and the ready replica on the Metrics card and the tenant's Usage card", async () => {
    // a few more calls, from Node with the session's token
    for (let i = 0; i < 4; i++) {
      const r = await api(`/v1/functions/${FN}/invoke/metrics-${i}`, {
        method: "POST",
        body: `{"n":${i}}`,
        headers: { "content-type": "application/json" },
      });
      assert.equal(r.status, 200, r.body);
      answered += 1;
      answered2xx += 1;
    }
    const expected = `${answered}${unanswered > 0 ? `..${answered + unanswered}` : ""}`;
    const counted = (n) => n >= answered && n <= answered + unanswered;
    const card = page.getByRole("region", { name: "Metrics", exact: true });
    await card.scrollIntoViewIfNeeded();
    // the card refetches every 10 s: wait for two refreshes at most
    const total = () =>
      card
        .getByTestId("metrics-calls")
        .evaluate((el) => Number(el.firstChild?.textContent?.replace(/,/g, "") ?? "NaN"))
        .catch(() => NaN);
    const deadline = Date.now() + 30_000;
    while (!counted(await total())) {
      assert.ok(
        Date.now() < deadline,
        `the Metrics card shows ${await total()} calls after 30 s, not ${expected}`,
      );
      await sleep(1000);
    }
    assert.equal(
      (await card.getByTestId("metrics-calls-2xx").textContent()).trim(),
      `2xx ${answered2xx}`,
    );
    // the hidden table has the same calls, step by step, and a ready replica beside them
    const rows = await card
      .getByTestId("metrics-table")
      .locator("tbody tr")
      .evaluateAll((trs) =>
        trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent)),
      );
    // cells: 6 outcomes, 3 latencies, cold starts, replicas asked for, ready
    assert.ok(
      counted(rows.reduce((n, r) => n + r.slice(0, 6).reduce((a, c) => a + Number(c), 0), 0)),
    );
    assert.ok(
      rows.some((r) => Number(r[11]) >= 1),
      `a step with calls had a ready replica: ${JSON.stringify(rows)}`,
    );
    // the charts: calls, and the replicas chart with the ready replica
    await card.getByTestId("metrics-chart-calls").locator("canvas").waitFor();
    await card.getByTestId("metrics-chart-replicas").locator("canvas").waitFor();
    assert.match(
      await card.getByTestId("metrics-chart-replicas").getAttribute("aria-label"),
      /asked for at most 1, ready at most 1 in the last hour; 1 of 1 ready now/,
    );
    await cardShot(card, "09-metrics-card");
    await checkA11y("metrics card (real node)");

    // the tenant's Usage card: echo is its only function, with the same calls and one pod
    await page.getByRole("link", { name: "Tenant", exact: true }).click();
    await page.getByRole("heading", { level: 1, name: "Tenant" }).waitFor();
    const usage = page.getByRole("region", { name: "Usage", exact: true });
    const row = usage
      .getByRole("table", { name: "Most calls" })
      .getByRole("row")
      .filter({ has: page.getByRole("link", { name: FN, exact: true }) });
    await row.waitFor();
    const [calls] = await row.getByRole("cell").allTextContents();
    assert.ok(counted(Number(calls)), `echo's calls on the Usage card: ${calls}, not ${expected}`);
    assert.ok(counted(Number(await usage.getByTestId("usage-calls").textContent())));
    await usage.getByTestId("usage-chart-pods").locator("canvas").waitFor();
    assert.match(
      await usage.getByTestId("usage-chart-pods").getAttribute("aria-label"),
      /^Pods of all functions per 1 min step, the most asked for: at most 1 in the last hour/,
    );
    await usage.getByTestId("usage-chart-cpu").locator("canvas").waitFor();
    await usage.scrollIntoViewIfNeeded();
    await cardShot(usage, "10-usage-card");
    await checkA11y("tenant usage card (real node)");
    // back to the function's page from its name
    await row.getByRole("link", { name: FN, exact: true }).click();
    await page.getByRole("heading", { level: 1, name: FN }).waitFor();
  });

  it("shows a crash loop and the container's last exit", async () => {
    // Each GET /crash ends the container (the call itself fails: 502); the kubelet restarts
    // it with a growing back-off, which the status calls CrashLoopBackOff.
    const crashed = statusCard()
      .filter({ hasText: "CrashLoopBackOff" })
      .filter({ hasText: "last exit: code 1 (Error)" });
    const started = Date.now();
    const deadline = started + 180_000;
    let calls = 0;
    while ((await crashed.count()) === 0) {
      assert.ok(
        Date.now() < deadline,
        `no CrashLoopBackOff with the last exit after ${calls} calls of GET /crash; status: ` +
          (await statusCard().textContent()),
      );
      await invoke({ method: "GET", path: "/crash" });
      calls += 1;
      // the page refetches every 3 s
      await crashed.waitFor({ timeout: 4000 }).catch(() => {});
    }
    console.log(`CrashLoopBackOff shown after ${calls} calls, ${Date.now() - started} ms`);
    assert.match(
      await page.getByTestId("detail-phase").textContent(),
      /CrashLoopBackOff/,
      "the reason is next to the phase",
    );
    await shot("06-crash-loop");

    // The list shows the reason too. The back-off may end meanwhile (the container runs
    // again): then crash it once more through the API.
    await page.getByRole("link", { name: "All functions" }).click();
    const row = page.getByTestId(`function-row-${FN}`);
    await row.waitFor();
    const rowCrashed = row.filter({ hasText: "CrashLoopBackOff" });
    for (;;) {
      try {
        await rowCrashed.waitFor({ timeout: 10_000 });
        break;
      } catch {
        assert.ok(
          Date.now() < deadline,
          `the list never showed CrashLoopBackOff: ${await row.textContent()}`,
        );
        await api(`/v1/functions/${FN}/invoke/crash`);
      }
    }
    await shot("07-list-crash-loop");
  });

  it("deletes the function from its page", async () => {
    await page.getByRole("link", { name: FN, exact: true }).click();
    await page.getByRole("heading", { level: 1, name: FN }).waitFor();
    await page.getByRole("button", { name: "Delete", exact: true }).click();
    const dialog = page.getByRole("dialog", { name: `Delete ${FN}?` });
    await dialog.waitFor();
    await dialog.getByRole("button", { name: "Delete function" }).click();
    await page.getByRole("heading", { level: 1, name: "Functions" }).waitFor();
    await page.getByTestId(`function-row-${FN}`).waitFor({ state: "detached" });
    await page.getByRole("heading", { name: "No functions yet" }).waitFor();
    deleted = true;
    assert.equal((await api(`/v1/functions/${FN}`)).status, 404);
    await shot("08-deleted");
    const started = Date.now();
    await waitGoneFromCluster(120);
    console.log(`Function and pod gone from the cluster after ${Date.now() - started} ms`);
  });

  it("logged no console errors", () => {
    assert.deepEqual(browser.problems, []);
  });
});
