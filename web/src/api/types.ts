// Types of the EventFlow public API, derived from the client generated from the
// server's OpenAPI document (docs/openapi.json → schema.d.ts, `npm run gen`).
// When the server changes a schema the dashboard uses, `tsc` fails here or at
// the use site.
import type { components, paths } from "./schema";

type Schemas = components["schemas"];

export type AuthMode = Schemas["AuthMode"];
export type AuthConfig = Schemas["AuthConfig"];
export type DevTokenRequest = Schemas["DevLogin"];
export type ApiKeyTokenRequest = Schemas["KeyLogin"];
export type TokenRequest = DevTokenRequest | ApiKeyTokenRequest;
export type TokenResponse = Schemas["TokenResponse"];
export type Role = Schemas["Role"];

export type QuotaItem = Schemas["Usage"];
export type Quota = Schemas["QuotaUsage"];
export type Me = Schemas["Me"];
/** `Me.limits`: the bounds this tenant's function specs are checked against. */
export type FunctionLimits = Schemas["FunctionLimits"];

export type EnvVar = Schemas["EnvVar"];
export type ResourceList = Schemas["ResourceList"];
export type Resources = Schemas["Resources"];
export type Autoscaling = Schemas["Autoscaling"];
export type FunctionSpec = Schemas["FunctionSpec"];
export type Condition = Schemas["ConditionDto"];
export type FunctionStatus = Schemas["FunctionStatusDto"];
export type FunctionObject = Schemas["FunctionDto"];
export type FunctionList = Schemas["FunctionList"];

/** Body of POST /v1/functions. */
export type CreateFunctionRequest = Schemas["FunctionRequest"];
/** Body of PUT /v1/functions/{name}: the same, with `name` optional. */
export type ReplaceFunctionRequest = Omit<CreateFunctionRequest, "name"> & { name?: string };
export type PatchFunctionRequest = Schemas["FunctionPatch"];

export type ErrorBody = Schemas["ErrorBody"];

/** `retry` of a spec: attempts of one asynchronous invocation (null: the platform's default). */
export type Retry = Schemas["Retry"];
/** A cron trigger as the spec holds it; each run is an asynchronous invocation. */
export type Schedule = Schemas["Schedule"];
/** A cron trigger as sent in a create or replace request. */
export type ScheduleRequest = Schemas["RawSchedule"];
/** `status.schedules[]`: a trigger's last and next run. */
export type ScheduleStatus = Schemas["ScheduleStatusDto"];

/** One asynchronous invocation (`Prefer: respond-async`, or a schedule's run). */
export type Invocation = Schemas["InvocationDto"];
export type InvocationList = Schemas["InvocationList"];
/** queued, running, succeeded, failed or dead. */
export type InvocationStatus = Schemas["InvocationStatus"];
/** One try of an invocation (`attemptLog[]`, on GET /v1/invocations/{id} only). */
export type InvocationAttempt = Schemas["AttemptDto"];
/** The function's answer to an invocation's last attempt. */
export type InvocationResponse = Schemas["InvocationResponseDto"];

/** One revision of a function's spec: numbered by its generation, newest first in lists. */
export type Revision = Schemas["RevisionDto"];
export type RevisionList = Schemas["RevisionList"];
/** Body of POST /v1/functions/{name}/rollback. */
export type RollbackRequest = Schemas["RollbackRequest"];
/**
 * One field that differs between two revisions. `from` and `to` are any JSON
 * value (the OpenAPI document says "object"); absent or null: not set there.
 */
export type SpecChange = Omit<Schemas["SpecChange"], "from" | "to"> & {
  from?: unknown;
  to?: unknown;
};
/** GET /v1/functions/{name}/revisions/{revision}/diff. */
export type RevisionDiff = Omit<Schemas["RevisionDiff"], "changes"> & { changes: SpecChange[] };

/** A function's invoke key as listed: never the key itself. */
export type InvokeKey = Schemas["InvokeKeyDto"];
export type InvokeKeyList = Schemas["InvokeKeyList"];
/** Body of POST /v1/functions/{name}/invoke-keys. */
export type InvokeKeyRequest = Schemas["InvokeKeyRequest"];
/** The answer to creating a key: the only time `key` is shown. */
export type NewInvokeKey = Schemas["NewInvokeKey"];

/** A sample function image the server offers (GET /v1/samples). */
export type Sample = Schemas["Sample"];
export type SampleList = Schemas["SampleList"];

export type RegistryCredential = Schemas["RegistryCredentialDto"];
export type RegistryCredentialList = Schemas["RegistryCredentialList"];
export type RegistryCredentialRequest = Schemas["RegistryCredentialRequest"];

/**
 * A tenant's secret as the server returns it: name, keys, size and version,
 * never a value. `usedBy` (the functions that read it) only on GET /v1/secrets/{name}.
 */
export type Secret = Schemas["SecretDto"];
export type SecretList = Schemas["SecretList"];
/** Body of PUT /v1/secrets/{name}: the whole secret (keys not named are dropped). Write-only. */
export type SecretRequest = Schemas["SecretRequest"];
/** `secretEnv[]` of a spec: environment variable `name` set from `key` of secret `secret`. */
export type SecretEnvVar = Schemas["SecretEnvVar"];

/** `status.phase`: Pending, Deploying, Running or Failed (an enum in the OpenAPI document). */
export type Phase = Schemas["Phase"];

/** Query parameters of GET /v1/functions/{name}/invocations. */
export type ListInvocationsQuery = NonNullable<
  paths["/v1/functions/{name}/invocations"]["get"]["parameters"]["query"]
>;

/** Query parameters of GET /v1/functions. */
export type ListFunctionsQuery = NonNullable<paths["/v1/functions"]["get"]["parameters"]["query"]>;

/** GET /v1/functions/{name}/metrics: a function's series over a range, with a summary. */
export type FunctionMetrics = Schemas["FunctionMetrics"];
/** One step of a metrics series (every step is present; an empty one has no calls). */
export type MetricsPoint = Schemas["MetricsPoint"];
/** Calls of a step or range by outcome: 2xx, 4xx, 429, 5xx, 503, 504. */
export type CallCounts = Schemas["CallCounts"];
/** Latency percentiles in milliseconds (null when there were no calls). */
export type LatencyMs = Schemas["LatencyMs"];

/** GET /v1/metrics: the tenant's functions together over time, each one's totals, its quota. */
export type TenantMetrics = Schemas["TenantMetrics"];
/** One step of the tenant overview: calls by outcome, pods and requests against the quota. */
export type TenantPoint = Schemas["TenantPoint"];
/** One function's totals over the overview's range (the busiest first). */
export type FunctionTotals = Schemas["FunctionTotals"];
/** The hard limits the overview's series are drawn against. */
export type QuotaLimits = Schemas["QuotaLimits"];
