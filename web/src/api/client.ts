import type {
  AuthConfig,
  CreateFunctionRequest,
  ErrorBody,
  FunctionList,
  FunctionMetrics,
  FunctionObject,
  Invocation,
  InvocationList,
  InvocationStatus,
  InvokeKeyList,
  InvokeKeyRequest,
  Me,
  NewInvokeKey,
  PatchFunctionRequest,
  RegistryCredential,
  RegistryCredentialList,
  RegistryCredentialRequest,
  ReplaceFunctionRequest,
  Revision,
  RevisionDiff,
  RevisionList,
  RollbackRequest,
  SampleList,
  Secret,
  SecretList,
  SecretRequest,
  TenantMetrics,
  TokenRequest,
  TokenResponse,
} from "./types";

/**
 * The header the server puts on every error response of its own, with the
 * same code as the body's `error.code` (eventflow-server `ApiError::code`:
 * `bad_request`, `validation_failed`, `unauthorized`, `forbidden`,
 * `not_found`, `quota_exceeded`, `conflict`, `payload_too_large`,
 * `unsupported_media_type`, `unavailable`, `no_ready_replicas`,
 * `too_many_requests`, `bad_gateway`, `gateway_timeout`, `internal`). A
 * function's own response passed through the invoke gateway never has it.
 */
export const ERROR_HEADER = "x-eventflow-error";

/** EventFlow's own error on an invoke: the code (from ERROR_HEADER) and message. */
export interface PlatformError {
  code: string;
  message: string;
}

/** The one error type of the API layer: every failed call rejects with it. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;

  constructor(status: number, code: string, message: string, field?: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.field = field;
  }

  /**
   * The message to show next to the field it names: the server may prefix it
   * with the field path (`env[1].name: duplicate variable "A"`), which the
   * form already makes clear.
   */
  get fieldMessage(): string {
    const prefix = this.field ? `${this.field}: ` : "";
    return prefix && this.message.startsWith(prefix)
      ? this.message.slice(prefix.length)
      : this.message;
  }
}

export interface ClientOptions {
  baseUrl?: string;
  getToken: () => string | null;
  /** Called when an authenticated call answers 401 (token expired or revoked). */
  onUnauthorized?: (error: ApiError) => void;
  fetch?: typeof fetch;
}

export interface InvokeRequest {
  method: string;
  /** Path below the function's root, e.g. `/hello?x=1`. */
  path: string;
  body?: string;
  contentType?: string;
  signal?: AbortSignal;
}

/** An asynchronous invocation: the request to store, and where to report its end. */
export interface InvokeAsyncRequest extends InvokeRequest {
  /** Sent as `EventFlow-Callback`: the server POSTs the outcome there when it ends. */
  callbackUrl?: string;
}

/** The header that asks the invoke route to queue the request (RFC 7240). */
export const PREFER_ASYNC = "respond-async";
/** The header naming an asynchronous invocation's completion callback. */
export const CALLBACK_HEADER = "EventFlow-Callback";

export interface ListInvocationsParams {
  status?: InvocationStatus | null;
  limit?: number;
  cursor?: string | null;
}

export interface ListRevisionsParams {
  limit?: number;
  cursor?: string | null;
}

export interface InvokeResult {
  status: number;
  statusText: string;
  headers: [string, string][];
  body: string;
  durationMs: number;
  /**
   * EventFlow answered instead of the function (the response carries
   * `X-EventFlow-Error`): no such function, no ready replicas, function
   * unreachable, timeout, tenant rate limit, … Null for the function's own
   * response, whatever its status and body.
   */
  gatewayError: PlatformError | null;
}

export interface LogStreamOptions {
  follow?: boolean;
  tailLines?: number;
  signal?: AbortSignal;
  /** Called once the server has accepted the stream (before any text). */
  onOpen?: () => void;
  onChunk: (text: string) => void;
}

function isErrorBody(v: unknown): v is ErrorBody {
  if (typeof v !== "object" || v === null || !("error" in v)) return false;
  const e = (v as { error: unknown }).error;
  return (
    typeof e === "object" &&
    e !== null &&
    typeof (e as { message?: unknown }).message === "string" &&
    typeof (e as { code?: unknown }).code === "string"
  );
}

/** The `{"error":{…}}` envelope in a response body, if that is what it is. */
function parseErrorBody(text: string): ErrorBody["error"] | null {
  if (!text) return null;
  try {
    const parsed: unknown = JSON.parse(text);
    return isErrorBody(parsed) ? parsed.error : null;
  } catch {
    return null;
  }
}

/** Builds an ApiError from a failed response, whatever its body looks like. */
export async function errorFromResponse(res: Response): Promise<ApiError> {
  let text = "";
  try {
    text = await res.text();
  } catch {
    // body unreadable: fall through to the generic message
  }
  const envelope = parseErrorBody(text);
  if (envelope) {
    const { code, message, field } = envelope;
    return new ApiError(res.status, code, message, field ?? undefined);
  }
  const reason = res.statusText ? `${res.status} ${res.statusText}` : String(res.status);
  // no envelope (e.g. the answer to a HEAD request): the header still names the code
  const code = res.headers.get(ERROR_HEADER) ?? `http_${res.status}`;
  return new ApiError(res.status, code, `The server answered ${reason}.`);
}

const NETWORK_MESSAGE =
  "Could not reach the EventFlow server. Check your connection and try again.";

function isAbort(e: unknown): boolean {
  return e instanceof DOMException && e.name === "AbortError";
}

export type ApiClient = ReturnType<typeof createApiClient>;

export function createApiClient(options: ClientOptions) {
  const base = options.baseUrl ?? "";
  const doFetch: typeof fetch = (...args) => (options.fetch ?? globalThis.fetch)(...args);

  function authHeaders(): Record<string, string> {
    const token = options.getToken();
    return token ? { Authorization: `Bearer ${token}` } : {};
  }

  async function send(path: string, init: RequestInit, authenticated: boolean): Promise<Response> {
    let res: Response;
    try {
      res = await doFetch(base + path, {
        ...init,
        headers: {
          ...(authenticated ? authHeaders() : {}),
          ...(init.headers as Record<string, string> | undefined),
        },
      });
    } catch (e) {
      if (isAbort(e)) throw e;
      throw new ApiError(0, "network", NETWORK_MESSAGE);
    }
    if (res.status === 401 && authenticated) {
      const err = await errorFromResponse(res);
      options.onUnauthorized?.(err);
      throw err;
    }
    return res;
  }

  async function json<T>(
    method: string,
    path: string,
    body?: unknown,
    authenticated = true,
  ): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    const init: RequestInit = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await send(path, init, authenticated);
    if (!res.ok) throw await errorFromResponse(res);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(
        res.status,
        "bad_response",
        "The server sent a response that is not JSON.",
      );
    }
  }

  const fn = (name: string) => `/v1/functions/${encodeURIComponent(name)}`;
  const invocationPath = (id: string) => `/v1/invocations/${encodeURIComponent(id)}`;
  const registryPath = (registry: string) =>
    `/v1/registry-credentials/${encodeURIComponent(registry)}`;
  const secretPath = (name: string) => `/v1/secrets/${encodeURIComponent(name)}`;

  /** URL, headers and body of a call through the invoke gateway. */
  function invokeInit(name: string, req: InvokeRequest, extra: Record<string, string> = {}) {
    const sub = req.path.trim().replace(/^\/+/, "");
    const url = `${fn(name)}/invoke${sub ? `/${sub}` : ""}`;
    const headers: Record<string, string> = { ...extra };
    const hasBody =
      req.body !== undefined && req.body !== "" && !["GET", "HEAD"].includes(req.method);
    if (hasBody) headers["Content-Type"] = req.contentType ?? "application/json";
    const init: RequestInit = {
      method: req.method,
      headers,
      body: hasBody ? req.body : undefined,
      signal: req.signal,
    };
    return { url, init };
  }

  return {
    authConfig: () => json<AuthConfig>("GET", "/auth/config", undefined, false),
    token: (req: TokenRequest) => json<TokenResponse>("POST", "/auth/token", req, false),
    me: () => json<Me>("GET", "/v1/me"),
    listFunctions: (params: { limit?: number; cursor?: string | null } = {}) => {
      const q = new URLSearchParams();
      if (params.limit !== undefined) q.set("limit", String(params.limit));
      if (params.cursor) q.set("cursor", params.cursor);
      const qs = q.toString();
      return json<FunctionList>("GET", `/v1/functions${qs ? `?${qs}` : ""}`);
    },
    getFunction: (name: string) => json<FunctionObject>("GET", fn(name)),
    createFunction: (req: CreateFunctionRequest) =>
      json<FunctionObject>("POST", "/v1/functions", req),
    replaceFunction: (name: string, req: ReplaceFunctionRequest) =>
      json<FunctionObject>("PUT", fn(name), req),
    patchFunction: (name: string, req: PatchFunctionRequest) =>
      json<FunctionObject>("PATCH", fn(name), req),
    deleteFunction: (name: string) => json<undefined>("DELETE", fn(name)),
    listSamples: () => json<SampleList>("GET", "/v1/samples"),
    listRegistryCredentials: () => json<RegistryCredentialList>("GET", "/v1/registry-credentials"),
    /** Creates or replaces the login for `registry`; the password is never sent back. */
    putRegistryCredential: (registry: string, req: RegistryCredentialRequest) =>
      json<RegistryCredential>("PUT", registryPath(registry), req),
    deleteRegistryCredential: (registry: string) =>
      json<undefined>("DELETE", registryPath(registry)),
    /** The tenant's secrets: names, keys and sizes, never values. */
    listSecrets: () => json<SecretList>("GET", "/v1/secrets"),
    /** One secret (never its values) with `usedBy`, the functions that read it. */
    getSecret: (name: string) => json<Secret>("GET", secretPath(name)),
    /**
     * Creates (201, version 1) or replaces (200) the whole secret: keys not in
     * `req.data` are dropped. The values go in the body only, never in the URL,
     * and never come back.
     */
    putSecret: (name: string, req: SecretRequest) => json<Secret>("PUT", secretPath(name), req),
    /** Deletes a secret; 409 `conflict` (naming the functions) while any function reads it. */
    deleteSecret: (name: string) => json<undefined>("DELETE", secretPath(name)),

    /** Sends a raw request through the invoke gateway and reports the raw response. */
    async invoke(name: string, req: InvokeRequest): Promise<InvokeResult> {
      const { url, init } = invokeInit(name, req);
      const started = performance.now();
      const res = await send(url, init, true);
      const body = await res.text();
      const durationMs = Math.round(performance.now() - started);
      const headerList: [string, string][] = [];
      res.headers.forEach((value, key) => headerList.push([key, value]));
      return {
        status: res.status,
        statusText: res.statusText,
        headers: headerList,
        body,
        durationMs,
        gatewayError: gatewayErrorOf(res, body),
      };
    },

    /**
     * Queues a request through the invoke gateway (`Prefer: respond-async`):
     * resolves with the stored invocation the server answers 202 with, and
     * rejects with ApiError when it refuses (unknown function, body too large,
     * queue full, a callback URL it does not allow, …).
     */
    async invokeAsync(name: string, req: InvokeAsyncRequest): Promise<Invocation> {
      const extra: Record<string, string> = { Accept: "application/json", Prefer: PREFER_ASYNC };
      const callback = req.callbackUrl?.trim();
      if (callback) extra[CALLBACK_HEADER] = callback;
      const { url, init } = invokeInit(name, req, extra);
      const res = await send(url, init, true);
      if (!res.ok) throw await errorFromResponse(res);
      const text = await res.text();
      if (res.status !== 202) {
        throw new ApiError(
          res.status,
          "not_queued",
          `The server answered ${res.status} instead of queueing the request (202).`,
        );
      }
      try {
        return JSON.parse(text) as Invocation;
      } catch {
        throw new ApiError(
          res.status,
          "bad_response",
          "The server sent a response that is not JSON.",
        );
      }
    },
    /** A function's asynchronous invocations, newest first, a page at a time. */
    listInvocations: (name: string, params: ListInvocationsParams = {}) => {
      const q = new URLSearchParams();
      if (params.status) q.set("status", params.status);
      if (params.limit !== undefined) q.set("limit", String(params.limit));
      if (params.cursor) q.set("cursor", params.cursor);
      const qs = q.toString();
      return json<InvocationList>("GET", `${fn(name)}/invocations${qs ? `?${qs}` : ""}`);
    },
    /** One invocation with its attempt log. */
    getInvocation: (id: string) => json<Invocation>("GET", invocationPath(id)),
    /** Queues a dead or failed invocation again (409 `conflict` for any other status). */
    redriveInvocation: (id: string) => json<Invocation>("POST", `${invocationPath(id)}/redrive`),

    /** A function's revisions (every change of its spec), newest first, a page at a time. */
    listRevisions: (name: string, params: ListRevisionsParams = {}) => {
      const q = new URLSearchParams();
      if (params.limit !== undefined) q.set("limit", String(params.limit));
      if (params.cursor) q.set("cursor", params.cursor);
      const qs = q.toString();
      return json<RevisionList>("GET", `${fn(name)}/revisions${qs ? `?${qs}` : ""}`);
    },
    getRevision: (name: string, revision: number) =>
      json<Revision>("GET", `${fn(name)}/revisions/${revision}`),
    /**
     * What changed from `against` (default: the revision before) to `revision`;
     * 404 for the first revision without `against`.
     */
    diffRevision: (name: string, revision: number, against?: number) =>
      json<RevisionDiff>(
        "GET",
        `${fn(name)}/revisions/${revision}/diff${against !== undefined ? `?against=${against}` : ""}`,
      ),
    /**
     * Makes an earlier revision's spec the function's spec again, as a new
     * revision (none when it is the spec already); resolves with the function.
     */
    rollbackFunction: (name: string, revision: number) =>
      json<FunctionObject>("POST", `${fn(name)}/rollback`, { revision } satisfies RollbackRequest),

    /**
     * A function's series over `range` (15m, 1h, 6h, 24h; about 60 points):
     * calls by outcome, latency percentiles, most in flight and cold starts
     * per step, and the whole range summed. 404 for an unknown function, 422
     * naming `range` or `step` when the server does not take them.
     */
    getFunctionMetrics: (name: string, range: string, step?: string) => {
      const q = new URLSearchParams({ range });
      if (step) q.set("step", step);
      return json<FunctionMetrics>("GET", `${fn(name)}/metrics?${q.toString()}`);
    },
    /** The tenant's overview: all its functions together, each one's totals, its quota. */
    getTenantMetrics: (range: string, step?: string) => {
      const q = new URLSearchParams({ range });
      if (step) q.set("step", step);
      return json<TenantMetrics>("GET", `/v1/metrics?${q.toString()}`);
    },

    /** A function's invoke keys, without the keys. */
    listInvokeKeys: (name: string) => json<InvokeKeyList>("GET", `${fn(name)}/invoke-keys`),
    /** Makes an invoke key; the answer is the only time the key itself is shown. */
    createInvokeKey: (name: string, req: InvokeKeyRequest) =>
      json<NewInvokeKey>("POST", `${fn(name)}/invoke-keys`, req),
    /** Revokes an invoke key: it stops working at once. */
    revokeInvokeKey: (name: string, id: string) =>
      json<undefined>("DELETE", `${fn(name)}/invoke-keys/${encodeURIComponent(id)}`),

    /**
     * Streams a function's logs, calling onChunk with each decoded piece of text.
     * Resolves when the stream ends; rejects with ApiError on an error response.
     */
    async streamLogs(name: string, opts: LogStreamOptions): Promise<void> {
      const q = new URLSearchParams();
      if (opts.follow) q.set("follow", "true");
      q.set("tailLines", String(opts.tailLines ?? 100));
      const res = await send(
        `${fn(name)}/logs?${q.toString()}`,
        { method: "GET", headers: { Accept: "text/plain" }, signal: opts.signal },
        true,
      );
      if (!res.ok) throw await errorFromResponse(res);
      opts.onOpen?.();
      if (!res.body) {
        opts.onChunk(await res.text());
        return;
      }
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          const text = decoder.decode(value, { stream: true });
          if (text) opts.onChunk(text);
        }
        const rest = decoder.decode();
        if (rest) opts.onChunk(rest);
      } finally {
        reader.releaseLock();
      }
    },
  };
}

/**
 * EventFlow's own error on an invoke, told apart from the function's response
 * by the `X-EventFlow-Error` header alone: its code, and the message from the
 * body's envelope (a HEAD answer has no body; then the status stands in).
 */
export function gatewayErrorOf(res: Response, body: string): PlatformError | null {
  const code = res.headers.get(ERROR_HEADER);
  if (code === null) return null;
  const message = parseErrorBody(body)?.message ?? `HTTP ${res.status} ${res.statusText}`.trim();
  return { code, message };
}
