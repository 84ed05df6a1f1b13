// Starts a real `eventflow server --dev` and a headless Debian Chromium for the
// end-to-end tests. No browser is downloaded: playwright-core drives the
// system's /usr/bin/chromium (override with CHROMIUM_BIN).
import { spawn } from "node:child_process";
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const WEB_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const REPO_DIR = resolve(WEB_DIR, "..");
export const RESULTS_DIR = resolve(process.env.E2E_RESULTS_DIR ?? join(WEB_DIR, "test-results"));
export const SCREENSHOT_DIR = join(RESULTS_DIR, "screenshots");

const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

export function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A stand-in for a function's container on 127.0.0.1, for `--invoke-static
 * tenant/name=URL`: `handler(req, body)` returns `{status, headers, body}`.
 * Records every request it gets (method, url, headers, body).
 */
export async function startUpstream(handler) {
  const requests = [];
  const server = createHttpServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      requests.push({ method: req.method, url: req.url, headers: req.headers, body });
      const r = handler(req, body);
      res.writeHead(r.status ?? 200, r.headers ?? {});
      res.end(r.body ?? "");
    });
  });
  await new Promise((res) => server.listen(0, "127.0.0.1", res));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    stop: () =>
      new Promise((res) => {
        server.close(res);
        // the gateway keeps connections alive; do not wait for it to let go
        server.closeAllConnections();
      }),
  };
}

/** Checks prerequisites and fails with instructions rather than skipping. */
export function requirePrerequisites() {
  const bin = resolve(WEB_DIR, process.env.EVENTFLOW_BIN ?? "../target/release/eventflow");
  if (!existsSync(bin)) {
    throw new Error(
      `The eventflow server binary was not found at ${bin}.\n` +
        `Build it first:   cargo build --release -p eventflow   (from ${REPO_DIR})\n` +
        `or point EVENTFLOW_BIN at an existing binary.`,
    );
  }
  const dist = join(WEB_DIR, "dist", "index.html");
  if (!existsSync(dist)) {
    throw new Error(
      `The dashboard is not built (${dist} is missing). Run:  npm run build  (in ${WEB_DIR})`,
    );
  }
  const browser = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
  if (!existsSync(browser)) {
    throw new Error(
      `Chromium was not found at ${browser}. Install Debian's package:  apt-get install -y chromium\n` +
        `(or set CHROMIUM_BIN). Browser downloads do not work here; never run 'playwright install'.`,
    );
  }
  return { bin, browser };
}

/**
 * Starts `eventflow server --dev` (plus `extraArgs`, e.g. `--kubeconfig`) on a free port with a
 * fresh data dir, logging to `logName` in the results dir; resolves when /readyz answers 200.
 */
export async function startServer(bin, extraArgs = [], { logName = "server.log" } = {}) {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), "eventflow-e2e-data-"));
  mkdirSync(RESULTS_DIR, { recursive: true });
  const logPath = join(RESULTS_DIR, logName);
  const log = createWriteStream(logPath);
  const args = [
    "server",
    "--dev",
    "--listen",
    `127.0.0.1:${port}`,
    "--metrics-listen",
    "127.0.0.1:0",
    "--data-dir",
    dataDir,
    "--web-dir",
    "dist",
    ...extraArgs,
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
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) {
      throw new Error(
        `eventflow server exited early (${JSON.stringify(exited)}); args: ${args.join(" ")}\n` +
          readFileSync(logPath, "utf8").slice(-4000),
      );
    }
    try {
      const r = await fetch(`${baseUrl}/readyz`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`eventflow server did not become ready in 60s; see ${logPath}`);
    }
    await sleep(250);
  }
  return {
    baseUrl,
    logPath,
    async stop() {
      if (!exited) {
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 5000);
        await new Promise((r) => (exited ? r() : child.once("exit", r)));
        clearTimeout(t);
      }
      log.end();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Launches headless Chromium with a fresh profile and records console errors and page errors. */
export async function startBrowser(browserPath) {
  const profile = mkdtempSync(join(tmpdir(), "eventflow-e2e-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: browserPath,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 860 },
  });
  const problems = [];
  const watch = (page) => {
    page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
    page.on("console", (msg) => {
      if (msg.type() !== "error") return;
      // The browser itself logs every non-2xx fetch; these are expected API answers (5xx from the
      // gateway or logs when no Kubernetes is behind the server), not app errors. A 500 still fails.
      if (
        /Failed to load resource: the server responded with a status of (400|401|404|409|422|429|501|502|503|504)/.test(
          msg.text(),
        )
      )
        return;
      problems.push(`console.error: ${msg.text()}`);
    });
  };
  context.on("page", watch);
  const page = context.pages()[0] ?? (await context.newPage());
  watch(page);
  return {
    context,
    page,
    problems,
    async stop() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page, name, { fullPage = true } = {}) {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage });
  return path;
}

/** Screenshot of one element (a card), as `name`.png in the screenshot dir. */
export async function screenshotOf(locator, name) {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await locator.screenshot({ path });
  return path;
}

/** Runs axe-core in the page; returns serious and critical violations. */
export async function axeViolations(page) {
  const source = readFileSync(join(WEB_DIR, "node_modules", "axe-core", "axe.min.js"), "utf8");
  await page.evaluate(source);
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5),
    }));
  });
  return violations.filter((v) => v.impact === "serious" || v.impact === "critical");
}
