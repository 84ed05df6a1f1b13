import type { ReactElement } from "react";
import { render } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { MemoryRouter, Route, Routes } from "react-router";
import axe from "axe-core";
import { expect } from "vitest";
import { ERROR_HEADER } from "../api/client";
import type {
  FunctionMetrics,
  FunctionTotals,
  Invocation,
  Me,
  MetricsPoint,
  TenantMetrics,
  TenantPoint,
} from "../api/types";
import { AuthProvider } from "../auth/AuthContext";
import { saveSession } from "../auth/session";

export interface MockResponse {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type Handler = MockResponse | ((req: Request) => MockResponse | Promise<MockResponse>);

/**
 * An error as the server itself answers it: the `{"error":{…}}` envelope and
 * the `X-EventFlow-Error` header with its code.
 */
export function platformError(
  status: number,
  code: string,
  message: string,
  field?: string,
): MockResponse {
  return {
    status,
    body: { error: field === undefined ? { code, message } : { code, message, field } },
    headers: { [ERROR_HEADER]: code },
  };
}

/**
 * A fetch double for the network boundary: routes `METHOD /path` (query string
 * ignored) to canned responses and records every request. An unknown route
 * answers like the server's fallback: 404 `not_found`.
 */
export function mockFetch(routes: Record<string, Handler>) {
  const calls: Request[] = [];
  const fetchImpl = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const req = new Request(new URL(String(input), "http://localhost"), init);
    calls.push(req.clone());
    const url = new URL(req.url);
    const handler = routes[`${req.method} ${url.pathname}`];
    if (!handler) {
      return new Response(JSON.stringify({ error: { code: "not_found", message: "no mock" } }), {
        status: 404,
        headers: { "content-type": "application/json", [ERROR_HEADER]: "not_found" },
      });
    }
    const r = typeof handler === "function" ? await handler(req) : handler;
    const status = r.status ?? 200;
    const body =
      r.body === undefined || status === 204
        ? null
        : typeof r.body === "string"
          ? r.body
          : JSON.stringify(r.body);
    return new Response(body, {
      status,
      headers: {
        "content-type": typeof r.body === "string" ? "text/plain" : "application/json",
        ...r.headers,
      },
    });
  };
  return { fetch: fetchImpl as typeof fetch, calls };
}

export function signedIn(tenant = "alice") {
  saveSession({
    token: `token-${tenant}`,
    tenant,
    role: "tenant",
    expiresAt: new Date(Date.now() + 3600_000).toISOString(),
  });
}

export function renderApp(
  ui: ReactElement,
  {
    fetch,
    path = "/",
    routePath = "*",
    deletedState,
  }: { fetch: typeof globalThis.fetch; path?: string; routePath?: string; deletedState?: string },
) {
  const queryClient = new QueryClient({
    defaultOptions: {
      queries: { retry: false, refetchInterval: false },
      mutations: { retry: false },
    },
  });
  const rendered = render(
    <QueryClientProvider client={queryClient}>
      <MemoryRouter
        initialEntries={[
          deletedState ? { pathname: path, state: { deleted: deletedState } } : path,
        ]}
      >
        <AuthProvider fetchImpl={fetch}>
          <Routes>
            <Route path={routePath} element={ui} />
            <Route path="/signin" element={<p>sign-in page</p>} />
            <Route path="/functions" element={<p>functions page</p>} />
            <Route path="/functions/:name" element={<p>detail page</p>} />
          </Routes>
        </AuthProvider>
      </MemoryRouter>
    </QueryClientProvider>,
  );
  return { ...rendered, queryClient };
}

/** Fails on any axe violation except those jsdom cannot judge (colour contrast). */
export async function expectAccessible(container: Element) {
  const result = await axe.run(container, {
    rules: { "color-contrast": { enabled: false }, region: { enabled: false } },
  });
  const problems = result.violations.map(
    (v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`,
  );
  expect(problems).toEqual([]);
}

/** GET /v1/me for tenant alice, whose functions may have up to 20 replicas. */
export const sampleMe: Me = {
  tenant: "alice",
  subject: "alice",
  namespace: "tenant-alice",
  email: "alice@example.com",
  role: "tenant",
  quota: {
    functions: { used: "1", hard: "50", ratio: 0.02 },
    pods: { used: "1", hard: "50", ratio: 0.02 },
    requestsCpu: { used: "100m", hard: "10", ratio: 0.01 },
    limitsCpu: { used: "500m", hard: "20", ratio: 0.025 },
    requestsMemory: { used: "128Mi", hard: "20Gi", ratio: 0.00625 },
    limitsMemory: { used: "512Mi", hard: "40Gi", ratio: 0.0125 },
  },
  limits: { maxReplicas: 20 },
};

/** sampleMe with other per-function limits. */
export function meWithLimits(limits: Partial<Me["limits"]>): Me {
  return { ...sampleMe, limits: { ...sampleMe.limits, ...limits } };
}

export const sampleFunction = {
  name: "hello",
  tenant: "alice",
  namespace: "tenant-alice",
  spec: {
    image: "nginx:alpine",
    replicas: 1,
    env: [{ name: "GREETING", value: "hi" }],
    resources: {
      requests: { cpu: "100m", memory: "128Mi" },
      limits: { cpu: "500m", memory: "512Mi" },
    },
    port: 8080,
    timeoutSeconds: 30,
  },
  status: {
    phase: "Running" as const,
    reason: null,
    message: null,
    replicas: 1,
    readyReplicas: 1,
    synced: true,
    url: "http://fn-hello.tenant-alice.svc:8080",
    conditions: [
      {
        type: "Ready",
        status: "True",
        reason: "MinimumReplicasAvailable",
        message: "1/1 ready",
        lastTransitionTime: "2026-01-01T00:00:00Z",
      },
    ],
  },
  generation: 1,
  createdAt: "2026-01-01T00:00:00Z",
  updatedAt: "2026-01-01T00:00:00Z",
};

/** An asynchronous invocation of hello as the server lists it (no attempt log). */
export const sampleInvocation: Invocation = {
  id: "4f0c1a2b-1111-4222-8333-444455556666",
  function: "hello",
  status: "succeeded",
  source: "api",
  method: "POST",
  path: "/jobs",
  attempts: 2,
  maxAttempts: 5,
  createdAt: "2026-01-01T00:00:00Z",
  updatedAt: "2026-01-01T00:00:02Z",
  nextAttemptAt: null,
  finishedAt: "2026-01-01T00:00:02Z",
  lastError: null,
  response: {
    status: 200,
    headers: [["content-type", "application/json"]],
    body: '{"done":true}',
    truncated: false,
  },
  callbackUrl: null,
  callbackStatus: null,
};

/** sampleInvocation with other fields (a new id unless one is given). */
export function invocation(fields: Partial<Invocation> = {}): Invocation {
  nextInvocation += 1;
  const id = `${String(nextInvocation).padStart(8, "0")}-aaaa-4bbb-8ccc-dddddddddddd`;
  return { ...sampleInvocation, id, ...fields };
}
let nextInvocation = 0;

const noCalls = { "2xx": 0, "4xx": 0, "429": 0, "5xx": 0, "503": 0, "504": 0 };

/** One step of a metrics series: no calls unless given. */
export function metricsPoint(at: string, fields: Partial<MetricsPoint> = {}): MetricsPoint {
  return {
    at,
    calls: { ...noCalls },
    callsPerSecond: 0,
    latencyMs: null,
    inFlightMax: 0,
    coldStarts: 0,
    coldStartMsAvg: null,
    replicas: 1,
    readyReplicas: 1,
    readyReplicasAvg: 1,
    cpuCores: null,
    memoryBytes: null,
    ...fields,
  };
}

/**
 * GET /v1/functions/hello/metrics as the server answers it: `points` 10 s
 * apart from 04:00 (none: an hour of empty steps), the summary from them.
 */
export function sampleMetrics(
  points: MetricsPoint[] = [],
  fields: Partial<FunctionMetrics> = {},
): FunctionMetrics {
  const series =
    points.length > 0
      ? points
      : Array.from({ length: 60 }, (_, i) =>
          metricsPoint(new Date(Date.UTC(2026, 11, 2, 3, 0) + i * 60_000).toISOString()),
        );
  const calls = { ...noCalls };
  for (const p of series)
    for (const k of Object.keys(calls) as (keyof typeof calls)[]) calls[k] += p.calls[k];
  const total = Object.values(calls).reduce((a, b) => a + b, 0);
  const rangeSeconds = points.length > 0 ? points.length * 10 : 3600;
  return {
    function: "hello",
    backend: "embedded",
    rangeSeconds,
    stepSeconds: points.length > 0 ? 10 : 60,
    points: series,
    summary: {
      calls,
      callsPerSecond: total / rangeSeconds,
      latencyMs: null,
      inFlightMax: Math.max(0, ...series.map((p) => p.inFlightMax ?? 0)),
      coldStarts: series.reduce((a, p) => a + p.coldStarts, 0),
      coldStartMsAvg: null,
      replicaSeconds: series.reduce(
        (a, p) => a + p.readyReplicasAvg * (points.length > 0 ? 10 : 60),
        0,
      ),
    },
    replicas: 1,
    readyReplicas: 1,
    ...fields,
  };
}

/** One step of the tenant overview: no calls and no pods unless given. */
export function tenantPoint(at: string, fields: Partial<TenantPoint> = {}): TenantPoint {
  return {
    at,
    calls: { ...noCalls },
    callsPerSecond: 0,
    pods: 0,
    readyReplicasAvg: 0,
    requestsCpuMillicores: 0,
    requestsMemoryBytes: 0,
    ...fields,
  };
}

/** One function's totals in the tenant overview: no calls unless given. */
export function functionTotals(name: string, fields: Partial<FunctionTotals> = {}): FunctionTotals {
  return {
    name,
    calls: { ...noCalls },
    errors: 0,
    errorRatio: 0,
    latencyMs: null,
    coldStarts: 0,
    replicaSeconds: 0,
    ...fields,
  };
}

/**
 * GET /v1/metrics as the server answers it for tenant alice: `points` 10 s
 * apart from 04:00 (none: 60 empty 1-minute steps), `functions` as given, a
 * quota of 50 pods, 50 functions, 10 CPUs and 20 GiB requested.
 */
export function sampleTenantMetrics(
  points: TenantPoint[] = [],
  functions: FunctionTotals[] = [],
  fields: Partial<TenantMetrics> = {},
): TenantMetrics {
  const series =
    points.length > 0
      ? points
      : Array.from({ length: 60 }, (_, i) =>
          tenantPoint(new Date(Date.UTC(2026, 11, 2, 3, 0) + i * 60_000).toISOString()),
        );
  return {
    tenant: "alice",
    backend: "embedded",
    rangeSeconds: points.length > 0 ? points.length * 10 : 3600,
    stepSeconds: points.length > 0 ? 10 : 60,
    points: series,
    functions,
    quota: {
      pods: 50,
      functions: 50,
      requestsCpuMillicores: 10_000,
      requestsMemoryBytes: 20 * 1024 ** 3,
    },
    ...fields,
  };
}
