import { describe, expect, it, vi } from "vitest";
import { ApiError, createApiClient, errorFromResponse } from "./client";
import {
  mockFetch,
  platformError,
  sampleFunction,
  sampleTenantMetrics,
  sampleInvocation,
  sampleMe,
} from "../test/utils";

function client(routes: Parameters<typeof mockFetch>[0], token: string | null = "tok") {
  const m = mockFetch(routes);
  const onUnauthorized = vi.fn();
  const api = createApiClient({ getToken: () => token, onUnauthorized, fetch: m.fetch });
  return { api, calls: m.calls, onUnauthorized };
}

describe("api client", () => {
  it("asks for the tenant overview with range and step only", async () => {
    const body = sampleTenantMetrics();
    const { api, calls } = client({ "GET /v1/metrics": { body } });
    await expect(api.getTenantMetrics("6h")).resolves.toEqual(body);
    await api.getTenantMetrics("7d", "3600");
    expect(calls.map((c) => c.url)).toEqual([
      "http://localhost/v1/metrics?range=6h",
      "http://localhost/v1/metrics?range=7d&step=3600",
    ]);
    expect(calls[0]?.headers.get("authorization")).toBe("Bearer tok");
  });

  it("reads the auth mode without a token", async () => {
    const { api, calls } = client({ "GET /auth/config": { body: { mode: "dev" } } });
    await expect(api.authConfig()).resolves.toEqual({ mode: "dev" });
    expect(calls[0]?.headers.get("authorization")).toBeNull();
  });

  it("posts a dev token request as JSON", async () => {
    const token = { token: "jwt", tenant: "alice", expiresAt: "2030-01-01T00:00:00Z" };
    const { api, calls } = client({ "POST /auth/token": { body: token } });
    await expect(
      api.token({ user_id: "alice", username: "alice", email: "alice@example.com" }),
    ).resolves.toEqual(token);
    const req = calls[0]!;
    expect(req.headers.get("content-type")).toBe("application/json");
    expect(await req.json()).toEqual({
      user_id: "alice",
      username: "alice",
      email: "alice@example.com",
    });
  });

  it("sends the bearer token on /v1 calls", async () => {
    const { api, calls } = client({ "GET /v1/me": { body: sampleMe } });
    await expect(api.me()).resolves.toMatchObject({ limits: { maxReplicas: 20 } });
    expect(calls[0]?.headers.get("authorization")).toBe("Bearer tok");
  });

  it("lists functions with limit and cursor", async () => {
    const { api, calls } = client({
      "GET /v1/functions": { body: { items: [sampleFunction], nextCursor: "c2" } },
    });
    const page = await api.listFunctions({ limit: 50, cursor: "abc==" });
    expect(page.items[0]?.name).toBe("hello");
    const url = new URL(calls[0]!.url);
    expect(url.searchParams.get("limit")).toBe("50");
    expect(url.searchParams.get("cursor")).toBe("abc==");
  });

  it("creates, patches, replaces and deletes", async () => {
    const { api, calls } = client({
      "POST /v1/functions": { status: 201, body: sampleFunction },
      "PATCH /v1/functions/hello": {
        body: { ...sampleFunction, spec: { ...sampleFunction.spec, replicas: 3 } },
      },
      "PUT /v1/functions/hello": { body: sampleFunction },
      "DELETE /v1/functions/hello": { status: 204 },
    });
    await api.createFunction({ name: "hello", image: "nginx:alpine" });
    const patched = await api.patchFunction("hello", { replicas: 3 });
    expect(patched.spec.replicas).toBe(3);
    await api.replaceFunction("hello", { image: "nginx:alpine" });
    await expect(api.deleteFunction("hello")).resolves.toBeUndefined();
    expect(calls.map((c) => c.method)).toEqual(["POST", "PATCH", "PUT", "DELETE"]);
    expect(await calls[1]!.json()).toEqual({ replicas: 3 });
  });

  it("turns an error body into an ApiError with code and field", async () => {
    const { api } = client({
      "POST /v1/functions": {
        status: 422,
        body: {
          error: {
            code: "validation_failed",
            message: "must be between 0 and 20",
            field: "replicas",
          },
        },
      },
    });
    const err = await api.createFunction({ name: "x", image: "nginx" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({
      status: 422,
      code: "validation_failed",
      field: "replicas",
      message: "must be between 0 and 20",
    });
  });

  it("strips the field path the server puts in front of a field message", () => {
    expect(
      new ApiError(422, "validation_failed", 'env[1].name: duplicate variable "A"', "env[1].name")
        .fieldMessage,
    ).toBe('duplicate variable "A"');
    expect(
      new ApiError(422, "validation_failed", "must be between 0 and 20", "replicas").fieldMessage,
    ).toBe("must be between 0 and 20");
  });

  it("reports conflicts", async () => {
    const { api } = client({
      "POST /v1/functions": {
        status: 409,
        body: { error: { code: "conflict", message: "function hello already exists" } },
      },
    });
    await expect(api.createFunction({ name: "hello", image: "nginx" })).rejects.toMatchObject({
      status: 409,
      code: "conflict",
    });
  });

  it("handles error responses that are not JSON", async () => {
    const { api } = client({ "GET /v1/me": { status: 502, body: "<html>Bad gateway</html>" } });
    await expect(api.me()).rejects.toMatchObject({ status: 502, code: "http_502" });
  });

  it("calls onUnauthorized on 401 from an authenticated call", async () => {
    const { api, onUnauthorized } = client({
      "GET /v1/me": {
        status: 401,
        body: { error: { code: "unauthorized", message: "token expired" } },
      },
    });
    await expect(api.me()).rejects.toMatchObject({ status: 401, code: "unauthorized" });
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
  });

  it("does not treat a failed sign-in as an expired session", async () => {
    const { api, onUnauthorized } = client({
      "POST /auth/token": {
        status: 401,
        body: { error: { code: "unauthorized", message: "invalid API key" } },
      },
    });
    await expect(api.token({ api_key: "efk_x" })).rejects.toMatchObject({
      message: "invalid API key",
    });
    expect(onUnauthorized).not.toHaveBeenCalled();
  });

  it("reports network failures as ApiError status 0", async () => {
    const api = createApiClient({
      getToken: () => "t",
      fetch: () => Promise.reject(new TypeError("Failed to fetch")),
    });
    await expect(api.me()).rejects.toMatchObject({ status: 0, code: "network" });
  });

  it("escapes function names in paths", async () => {
    const { api, calls } = client({});
    await api.getFunction("a/b").catch(() => undefined);
    expect(new URL(calls[0]!.url).pathname).toBe("/v1/functions/a%2Fb");
  });
});

describe("invoke", () => {
  it("returns the raw response with status, headers, body and time", async () => {
    const { api, calls } = client({
      "POST /v1/functions/hello/invoke/echo": {
        status: 200,
        body: '{"ok":true}',
        headers: { "content-type": "application/json", "x-id": "1" },
      },
    });
    const r = await api.invoke("hello", { method: "POST", path: "/echo?x=1", body: '{"a":1}' });
    expect(r.status).toBe(200);
    expect(r.body).toBe('{"ok":true}');
    expect(r.headers).toContainEqual(["x-id", "1"]);
    expect(r.durationMs).toBeGreaterThanOrEqual(0);
    expect(r.gatewayError).toBeNull();
    const req = calls[0]!;
    expect(new URL(req.url).search).toBe("?x=1");
    expect(await req.text()).toBe('{"a":1}');
  });

  it("invokes the root without a trailing path and sends no body on GET", async () => {
    const { api, calls } = client({ "GET /v1/functions/hello/invoke": { body: "hi" } });
    await api.invoke("hello", { method: "GET", path: "/", body: "ignored" });
    expect(calls[0]!.body).toBeNull();
  });

  it("tells EventFlow's own answers by X-EventFlow-Error", async () => {
    const { api } = client({
      "GET /v1/functions/hello/invoke": platformError(
        503,
        "no_ready_replicas",
        'function "hello" has no ready replicas',
      ),
    });
    const r = await api.invoke("hello", { method: "GET", path: "" });
    expect(r.status).toBe(503);
    expect(r.gatewayError).toEqual({
      code: "no_ready_replicas",
      message: 'function "hello" has no ready replicas',
    });
  });

  it("counts any platform error, not only gateway statuses", async () => {
    const { api } = client({
      "GET /v1/functions/ghost/invoke": platformError(404, "not_found", "function ghost not found"),
    });
    const r = await api.invoke("ghost", { method: "GET", path: "" });
    expect(r.gatewayError).toEqual({ code: "not_found", message: "function ghost not found" });
  });

  it("takes the code from the header when there is no body (HEAD)", async () => {
    const { api } = client({
      "HEAD /v1/functions/hello/invoke": {
        status: 429,
        headers: { "x-eventflow-error": "too_many_requests" },
      },
    });
    const r = await api.invoke("hello", { method: "HEAD", path: "" });
    expect(r.gatewayError?.code).toBe("too_many_requests");
    expect(r.gatewayError?.message).toMatch(/^HTTP 429/);
  });

  it("shows the function's own error responses as its response", async () => {
    // the same envelope and status as the gateway's, but without the header: the function's own
    const { api } = client({
      "GET /v1/functions/hello/invoke": {
        status: 503,
        body: { error: { code: "no_ready_replicas", message: "the function's own words" } },
      },
      "GET /v1/functions/hello/invoke/nope": { status: 404, body: "Not Found: /nope" },
    });
    const own = await api.invoke("hello", { method: "GET", path: "" });
    expect(own.status).toBe(503);
    expect(own.gatewayError).toBeNull();
    const notFound = await api.invoke("hello", { method: "GET", path: "/nope" });
    expect(notFound.status).toBe(404);
    expect(notFound.gatewayError).toBeNull();
  });
});

describe("asynchronous invocations", () => {
  it("queues with Prefer: respond-async and the callback, and returns the invocation", async () => {
    const queued = { ...sampleInvocation, status: "queued", attempts: 0, response: null };
    const { api, calls } = client({
      "POST /v1/functions/hello/invoke/jobs": {
        status: 202,
        body: queued,
        headers: { location: `/v1/invocations/${queued.id}` },
      },
    });
    const inv = await api.invokeAsync("hello", {
      method: "POST",
      path: "/jobs?x=1",
      body: '{"n":1}',
      callbackUrl: " https://example.com/done ",
    });
    expect(inv).toEqual(queued);
    const req = calls[0]!;
    expect(req.headers.get("prefer")).toBe("respond-async");
    expect(req.headers.get("eventflow-callback")).toBe("https://example.com/done");
    expect(req.headers.get("content-type")).toBe("application/json");
    expect(req.headers.get("authorization")).toBe("Bearer tok");
    expect(new URL(req.url).search).toBe("?x=1");
    expect(await req.text()).toBe('{"n":1}');
  });

  it("sends no callback header without a URL", async () => {
    const { api, calls } = client({
      "GET /v1/functions/hello/invoke": { status: 202, body: sampleInvocation },
    });
    await api.invokeAsync("hello", { method: "GET", path: "/", callbackUrl: "" });
    expect(calls[0]!.headers.has("eventflow-callback")).toBe(false);
    expect(calls[0]!.body).toBeNull();
  });

  it("rejects with the server's refusal, naming the callback header", async () => {
    const { api } = client({
      "POST /v1/functions/hello/invoke": platformError(
        400,
        "bad_request",
        "EventFlow-Callback: only https URLs are allowed",
        "EventFlow-Callback",
      ),
    });
    const e = await api
      .invokeAsync("hello", { method: "POST", path: "", callbackUrl: "http://x" })
      .catch((err: unknown) => err);
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).field).toBe("EventFlow-Callback");
    expect((e as ApiError).fieldMessage).toBe("only https URLs are allowed");
  });

  it("rejects an answer that did not queue the request", async () => {
    const { api } = client({ "POST /v1/functions/hello/invoke": { status: 200, body: "ran" } });
    await expect(api.invokeAsync("hello", { method: "POST", path: "" })).rejects.toMatchObject({
      code: "not_queued",
    });
  });

  it("lists, reads and re-drives invocations", async () => {
    const { api, calls } = client({
      "GET /v1/functions/hello/invocations": {
        body: { items: [sampleInvocation], nextCursor: "n2" },
      },
      [`GET /v1/invocations/${sampleInvocation.id}`]: {
        body: { ...sampleInvocation, attemptLog: [] },
      },
      [`POST /v1/invocations/${sampleInvocation.id}/redrive`]: {
        body: { ...sampleInvocation, status: "queued" },
      },
    });
    const page = await api.listInvocations("hello", { status: "dead", limit: 20, cursor: "c1" });
    expect(page.nextCursor).toBe("n2");
    const url = new URL(calls[0]!.url);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      status: "dead",
      limit: "20",
      cursor: "c1",
    });
    await api.listInvocations("hello");
    expect(new URL(calls[1]!.url).search).toBe("");
    expect((await api.getInvocation(sampleInvocation.id)).attemptLog).toEqual([]);
    expect((await api.redriveInvocation(sampleInvocation.id)).status).toBe("queued");
    expect(calls[3]!.method).toBe("POST");
  });
});

describe("revisions", () => {
  it("lists, reads and diffs revisions, and rolls back", async () => {
    const revision = {
      revision: 2,
      spec: sampleFunction.spec,
      actor: "alice",
      createdAt: "2026-01-01T00:00:00Z",
      rollbackOf: null,
      current: true,
    };
    const diff = { from: 1, to: 2, changes: [{ path: "image", from: "a:1", to: "a:2" }] };
    const { api, calls } = client({
      "GET /v1/functions/hello/revisions": { body: { items: [revision], nextCursor: "1" } },
      "GET /v1/functions/hello/revisions/2": { body: revision },
      "GET /v1/functions/hello/revisions/2/diff": { body: diff },
      "POST /v1/functions/hello/rollback": { body: { ...sampleFunction, generation: 3 } },
    });
    const page = await api.listRevisions("hello", { limit: 20, cursor: "5" });
    expect(page.nextCursor).toBe("1");
    expect(Object.fromEntries(new URL(calls[0]!.url).searchParams)).toEqual({
      limit: "20",
      cursor: "5",
    });
    await api.listRevisions("hello");
    expect(new URL(calls[1]!.url).search).toBe("");
    expect((await api.getRevision("hello", 2)).current).toBe(true);
    await expect(api.diffRevision("hello", 2)).resolves.toEqual(diff);
    expect(new URL(calls[3]!.url).search).toBe("");
    await api.diffRevision("hello", 2, 1);
    expect(new URL(calls[4]!.url).searchParams.get("against")).toBe("1");
    expect((await api.rollbackFunction("hello", 1)).generation).toBe(3);
    expect(calls[5]!.method).toBe("POST");
    expect(await calls[5]!.json()).toEqual({ revision: 1 });
  });

  it("rejects the first revision's diff without `against` with the server's 404", async () => {
    const { api } = client({
      "GET /v1/functions/hello/revisions/1/diff": platformError(
        404,
        "not_found",
        'revision 1 of "hello" is its first: name one to compare with in `against`',
      ),
    });
    await expect(api.diffRevision("hello", 1)).rejects.toMatchObject({
      status: 404,
      code: "not_found",
    });
  });
});

describe("invoke keys", () => {
  it("creates, lists and revokes keys", async () => {
    const listed = {
      id: "k/1",
      function: "hello",
      name: "github",
      prefix: "efi_AbCdEfGh",
      createdAt: "2026-01-01T00:00:00Z",
      expiresAt: null,
      revokedAt: null,
      lastUsedAt: null,
      active: true,
    };
    const { api, calls } = client({
      "POST /v1/functions/hello/invoke-keys": { status: 201, body: { ...listed, key: "efi_s" } },
      "GET /v1/functions/hello/invoke-keys": { body: { items: [listed] } },
      "DELETE /v1/functions/hello/invoke-keys/k%2F1": { status: 204 },
    });
    const made = await api.createInvokeKey("hello", { name: "github", expiresInSeconds: 86400 });
    expect(made.key).toBe("efi_s");
    expect(await calls[0]!.json()).toEqual({ name: "github", expiresInSeconds: 86400 });
    expect((await api.listInvokeKeys("hello")).items).toEqual([listed]);
    await expect(api.revokeInvokeKey("hello", "k/1")).resolves.toBeUndefined();
    expect(calls[2]!.method).toBe("DELETE");
  });

  it("names the field the server refuses", async () => {
    const { api } = client({
      "POST /v1/functions/hello/invoke-keys": platformError(
        422,
        "validation_failed",
        "expiresInSeconds: must be between 60 and 31622400",
        "expiresInSeconds",
      ),
    });
    const err = await api
      .createInvokeKey("hello", { name: "x", expiresInSeconds: 1 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).field).toBe("expiresInSeconds");
    expect((err as ApiError).fieldMessage).toBe("must be between 60 and 31622400");
  });
});

describe("secrets", () => {
  const db = {
    name: "db",
    keys: ["password", "user"],
    sizeBytes: 20,
    version: 1,
    createdAt: "2026-01-01T00:00:00Z",
    updatedAt: "2026-01-01T00:00:00Z",
  };

  it("lists, reads, puts and deletes secrets, the values only in the PUT body", async () => {
    const { api, calls } = client({
      "GET /v1/secrets": { body: { items: [db] } },
      "GET /v1/secrets/db": { body: { ...db, usedBy: ["api"] } },
      "PUT /v1/secrets/db": { status: 201, body: db },
      "DELETE /v1/secrets/db": { status: 204 },
    });
    expect((await api.listSecrets()).items).toEqual([db]);
    expect((await api.getSecret("db")).usedBy).toEqual(["api"]);
    const saved = await api.putSecret("db", { data: { user: "app", password: "pw-123" } });
    expect(saved).toEqual(db);
    const put = calls[2]!;
    expect(put.method).toBe("PUT");
    expect(put.url).toBe("http://localhost/v1/secrets/db");
    expect(put.headers.get("content-type")).toBe("application/json");
    expect(await put.json()).toEqual({ data: { user: "app", password: "pw-123" } });
    await expect(api.deleteSecret("db")).resolves.toBeUndefined();
    expect(calls[3]!.method).toBe("DELETE");
  });

  it("reports the 409 naming the functions that read the secret", async () => {
    const { api } = client({
      "DELETE /v1/secrets/db": platformError(
        409,
        "conflict",
        'secret "db" is used by function api; remove it from their secretEnv and secretFiles first',
      ),
    });
    const err = await api.deleteSecret("db").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(409);
    expect((err as ApiError).message).toMatch(/used by function api/);
  });

  it("escapes secret names in paths", async () => {
    const { api, calls } = client({});
    await api.getSecret("a/b").catch(() => undefined);
    expect(calls[0]!.url).toBe("http://localhost/v1/secrets/a%2Fb");
  });
});

describe("streamLogs", () => {
  it("streams decoded chunks", async () => {
    const enc = new TextEncoder();
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(enc.encode("fn-hello-1 a\nfn-hel"));
        c.enqueue(enc.encode("lo-1 b\n"));
        c.close();
      },
    });
    const fetchImpl = vi.fn(() =>
      Promise.resolve(new Response(stream, { headers: { "content-type": "text/plain" } })),
    );
    const api = createApiClient({ getToken: () => "t", fetch: fetchImpl });
    const chunks: string[] = [];
    await api.streamLogs("hello", { follow: true, tailLines: 100, onChunk: (t) => chunks.push(t) });
    expect(chunks.join("")).toBe("fn-hello-1 a\nfn-hello-1 b\n");
    const url = new URL(String((fetchImpl.mock.calls[0] as unknown[])[0]), "http://x");
    expect(url.pathname).toBe("/v1/functions/hello/logs");
    expect(url.searchParams.get("follow")).toBe("true");
    expect(url.searchParams.get("tailLines")).toBe("100");
  });

  it("rejects with the server's error", async () => {
    const { api } = client({
      "GET /v1/functions/hello/logs": platformError(
        503,
        "unavailable",
        "Kubernetes is not reachable; logs come from the cluster",
      ),
    });
    const onOpen = vi.fn();
    const err = await api
      .streamLogs("hello", { onOpen, onChunk: () => {} })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({
      status: 503,
      code: "unavailable",
      message: "Kubernetes is not reachable; logs come from the cluster",
    });
    expect(onOpen).not.toHaveBeenCalled();
  });

  it("can be aborted", async () => {
    const controller = new AbortController();
    const api = createApiClient({
      getToken: () => "t",
      fetch: (_i, init) =>
        new Promise((_, reject) => {
          init?.signal?.addEventListener("abort", () =>
            reject(new DOMException("aborted", "AbortError")),
          );
        }),
    });
    const p = api.streamLogs("hello", { signal: controller.signal, onChunk: () => {} });
    controller.abort();
    await expect(p).rejects.toMatchObject({ name: "AbortError" });
  });
});

describe("errorFromResponse", () => {
  it("keeps the server's message", async () => {
    const e = await errorFromResponse(
      new Response(JSON.stringify({ error: { code: "forbidden", message: "nope" } }), {
        status: 403,
      }),
    );
    expect(e).toMatchObject({ status: 403, code: "forbidden", message: "nope", field: undefined });
  });

  it("takes the code from X-EventFlow-Error when there is no envelope", async () => {
    const e = await errorFromResponse(
      new Response(null, {
        status: 503,
        statusText: "Service Unavailable",
        headers: { "x-eventflow-error": "unavailable" },
      }),
    );
    expect(e).toMatchObject({
      status: 503,
      code: "unavailable",
      message: "The server answered 503 Service Unavailable.",
    });
    const plain = await errorFromResponse(new Response("<html>", { status: 502 }));
    expect(plain.code).toBe("http_502");
  });
});
