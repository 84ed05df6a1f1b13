import { describe, expect, it } from "vitest";
import type { FunctionSpec } from "../api/types";
import { sampleFunction } from "../test/utils";
import { replaceRequestFromSpec } from "./replaceRequest";

const base: FunctionSpec = sampleFunction.spec;

describe("replaceRequestFromSpec", () => {
  it("sends every field of the spec back", () => {
    const spec: FunctionSpec = {
      ...base,
      command: ["/app"],
      args: ["--port", "8080"],
      retry: { maxAttempts: 3 },
      schedules: [
        { name: "nightly", cron: "0 3 * * *", timeZone: "Europe/Paris", body: "{}" },
        { name: "hourly", cron: "@hourly", timeZone: null, body: null },
      ],
      secretEnv: [{ name: "DB_PASSWORD", secret: "db", key: "password" }],
      secretFiles: ["tls"],
    };
    expect(replaceRequestFromSpec(spec)).toEqual({
      image: "nginx:alpine",
      replicas: 1,
      env: [{ name: "GREETING", value: "hi" }],
      resources: {
        requests: { cpu: "100m", memory: "128Mi" },
        limits: { cpu: "500m", memory: "512Mi" },
      },
      port: 8080,
      timeoutSeconds: 30,
      command: ["/app"],
      args: ["--port", "8080"],
      retry: { maxAttempts: 3 },
      schedules: [
        { name: "nightly", cron: "0 3 * * *", timeZone: "Europe/Paris", body: "{}" },
        { name: "hourly", cron: "@hourly" },
      ],
      // a PUT without them would drop the function's secret references
      secretEnv: [{ name: "DB_PASSWORD", secret: "db", key: "password" }],
      secretFiles: ["tls"],
    });
  });

  it("leaves out what the spec does not set", () => {
    const req = replaceRequestFromSpec({
      ...base,
      retry: { maxAttempts: null },
      schedules: [],
      secretEnv: [],
      secretFiles: [],
    });
    expect(req).not.toHaveProperty("retry");
    expect(req).not.toHaveProperty("schedules");
    expect(req).not.toHaveProperty("autoscaling");
    expect(req).not.toHaveProperty("command");
    expect(req).not.toHaveProperty("secretEnv");
    expect(req).not.toHaveProperty("secretFiles");
  });

  it("sends only the target of the kind of scaling the function has", () => {
    // the server reports targetCpuPercent for request-based scaling too, and refuses both
    const byRequests = replaceRequestFromSpec({
      ...base,
      autoscaling: {
        minReplicas: 0,
        maxReplicas: 4,
        targetCpuPercent: 80,
        targetConcurrency: 2,
        idleSeconds: 60,
      },
    });
    expect(byRequests.autoscaling).toEqual({
      minReplicas: 0,
      maxReplicas: 4,
      targetConcurrency: 2,
      idleSeconds: 60,
    });
    const byCpu = replaceRequestFromSpec({
      ...base,
      autoscaling: {
        minReplicas: 1,
        maxReplicas: 4,
        targetCpuPercent: 70,
        targetConcurrency: null,
      },
    });
    expect(byCpu.autoscaling).toEqual({ minReplicas: 1, maxReplicas: 4, targetCpuPercent: 70 });
  });
});
