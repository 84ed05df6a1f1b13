// PUT /v1/functions/{name} replaces the whole spec (omitted fields take their
// defaults: a PUT without secretEnv drops the function's secret references),
// and PATCH takes only replicas, image and env. So a change to
// anything else (schedules, retries) is sent as the function's current spec
// with that change, in the request shape the server parses.
import type { FunctionSpec, ReplaceFunctionRequest } from "../api/types";

/**
 * The request that puts `spec` back as it is. The server reports both
 * `targetCpuPercent` and `targetConcurrency` for request-based scaling but
 * refuses both in a request, so only the one that applies is sent.
 */
export function replaceRequestFromSpec(spec: FunctionSpec): ReplaceFunctionRequest {
  const req: ReplaceFunctionRequest = {
    image: spec.image,
    replicas: spec.replicas,
    env: spec.env.map(({ name, value }) => ({ name, value })),
    resources: {
      requests: { ...spec.resources.requests },
      limits: { ...spec.resources.limits },
    },
    port: spec.port,
    timeoutSeconds: spec.timeoutSeconds,
  };
  if (spec.command) req.command = [...spec.command];
  if (spec.args) req.args = [...spec.args];
  const a = spec.autoscaling;
  if (a) {
    req.autoscaling =
      a.targetConcurrency != null
        ? {
            minReplicas: a.minReplicas,
            maxReplicas: a.maxReplicas,
            targetConcurrency: a.targetConcurrency,
            ...(a.idleSeconds != null ? { idleSeconds: a.idleSeconds } : {}),
          }
        : {
            minReplicas: a.minReplicas,
            maxReplicas: a.maxReplicas,
            targetCpuPercent: a.targetCpuPercent,
          };
  }
  if (spec.retry?.maxAttempts != null) req.retry = { maxAttempts: spec.retry.maxAttempts };
  if (spec.secretEnv && spec.secretEnv.length > 0)
    req.secretEnv = spec.secretEnv.map(({ name, secret, key }) => ({ name, secret, key }));
  if (spec.secretFiles && spec.secretFiles.length > 0) req.secretFiles = [...spec.secretFiles];
  if (spec.schedules && spec.schedules.length > 0) {
    req.schedules = spec.schedules.map((s) => ({
      name: s.name,
      cron: s.cron,
      ...(s.timeZone != null ? { timeZone: s.timeZone } : {}),
      ...(s.body != null ? { body: s.body } : {}),
    }));
  }
  return req;
}
