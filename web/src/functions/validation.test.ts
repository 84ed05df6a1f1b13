import { describe, expect, it } from "vitest";
import {
  emptyForm,
  parseQuantity,
  validateEnv,
  validateFunctionForm,
  validateImage,
  validateMaxAttempts,
  validateName,
  validateReplicas,
  newSecretEnvRow,
  secretEnvKeyForField,
  type EnvRow,
  type FieldErrors,
  type FunctionFormValues,
} from "./validation";

const LIMITS = { maxReplicas: 20 };

const form = (patch: Partial<FunctionFormValues>): FunctionFormValues => ({
  ...emptyForm(),
  name: "hello",
  image: "nginx:alpine",
  ...patch,
});
const rows = (...pairs: [string, string][]): EnvRow[] =>
  pairs.map(([name, value], i) => ({ id: `r${i}`, name, value }));

describe("validateName", () => {
  it.each(["a", "hello", "hello-world", "a1", "1a", "x".repeat(60)])("accepts %j", (n) => {
    expect(validateName(n)).toBeNull();
  });
  it.each([
    ["", /required/],
    ["x".repeat(61), /at most 60/],
    ["Hello", /lowercase.*"H"/],
    ["hello_world", /lowercase.*"_"/],
    ["hello world", /lowercase/],
    ["-hello", /start and end/],
    ["hello-", /start and end/],
    ["héllo", /lowercase/],
  ])("rejects %j", (n, msg) => {
    expect(validateName(n)).toMatch(msg);
  });
});

describe("validateImage", () => {
  it.each([
    "nginx",
    "nginx:alpine",
    "nginx:1.27.0-alpine",
    "library/nginx:latest",
    "ghcr.io/org/app:v1",
    "localhost:5000/app",
    "registry.example.com:5000/team/app_name/sub:tag",
    "docker.io/library/busybox@sha256:" + "a".repeat(64),
    "ghcr.io/org/app:v1@sha256:" + "0123456789abcdef".repeat(4),
    "Registry.Example.com/app:v1",
  ])("accepts %s", (i) => {
    expect(validateImage(i)).toBeNull();
  });
  it.each([
    ["", /required/],
    ["nginx alpine", /whitespace/],
    [" nginx", /whitespace/],
    ["UPPER:case", /valid reference/],
    ["ghcr.io/Org/app", /valid reference/],
    ["nginx:", /valid reference/],
    ["nginx::1", /valid reference/],
    ["app@sha256:short", /valid reference/],
    ["-nginx", /valid reference/],
    ["a".repeat(513), /at most 512/],
  ])("rejects %j", (i, msg) => {
    expect(validateImage(i)).toMatch(msg);
  });
});

describe("parseQuantity", () => {
  const nanos = (t: string) => {
    const r = parseQuantity(t);
    if ("error" in r) throw new Error(r.error);
    return r.nanos;
  };
  it("parses decimal, binary and exponent forms", () => {
    expect(nanos("100m")).toBe(100_000_000n);
    expect(nanos("0.5")).toBe(500_000_000n);
    expect(nanos(".5")).toBe(500_000_000n);
    expect(nanos("1")).toBe(1_000_000_000n);
    expect(nanos("128Mi")).toBe(128n * 1024n * 1024n * 1_000_000_000n);
    expect(nanos("1Gi")).toBe(1024n ** 3n * 1_000_000_000n);
    expect(nanos("1k")).toBe(1000n * 1_000_000_000n);
    expect(nanos("1e3")).toBe(1000n * 1_000_000_000n);
    expect(nanos("5n")).toBe(5n);
    expect(nanos("0")).toBe(0n);
  });
  it("compares requests with limits the way the server does", () => {
    expect(nanos("500m") > nanos("0.1")).toBe(true);
    expect(nanos("1Gi") > nanos("1G")).toBe(true);
    expect(nanos("1.5")).toBe(nanos("1500m"));
  });
  it.each(["", "abc", "10x", "-1", "1.2.3", "1e99", "m", "1 Mi", "1mi", "x".repeat(33)])(
    "rejects %j",
    (t) => {
      expect(parseQuantity(t)).toHaveProperty("error");
    },
  );
});

describe("validateEnv", () => {
  it("accepts good names and ignores empty rows", () => {
    const errors: FieldErrors = {};
    const env = validateEnv(rows(["A", "1"], ["", ""], ["_x.y-z", ""], ["lower9", "v"]), errors);
    expect(errors).toEqual({});
    expect(env).toEqual([
      { name: "A", value: "1" },
      { name: "_x.y-z", value: "" },
      { name: "lower9", value: "v" },
    ]);
  });
  it("names the offending row by its index among non-empty rows, like the server", () => {
    const errors: FieldErrors = {};
    validateEnv(rows(["A", "1"], ["", ""], ["9bad", "x"], ["A", "2"], ["", "orphan"]), errors);
    expect(errors["env[1].name"]).toMatch(/start with a letter/);
    expect(errors["env[2].name"]).toMatch(/Duplicate variable "A"/);
    expect(errors["env[3].name"]).toMatch(/1 to 128/);
  });
  it("limits name length and count", () => {
    const errors: FieldErrors = {};
    validateEnv(rows(["X".repeat(129), ""]), errors);
    expect(errors["env[0].name"]).toMatch(/1 to 128/);
    const many: FieldErrors = {};
    validateEnv(
      rows(...Array.from({ length: 101 }, (_, i): [string, string] => [`V${i}`, ""])),
      many,
    );
    expect(many.env).toMatch(/At most 100/);
  });
});

describe("validateFunctionForm", () => {
  it("sends only name and image when the rest is empty", () => {
    expect(validateFunctionForm(form({}), LIMITS)).toEqual({
      errors: {},
      request: { name: "hello", image: "nginx:alpine" },
    });
  });

  it("builds a full request", () => {
    const { errors, request } = validateFunctionForm(
      form({
        name: " api ",
        replicas: "3",
        port: "9000",
        timeoutSeconds: "60",
        env: rows(["MODE", "prod"]),
        requestsCpu: "250m",
        limitsMemory: "1Gi",
        command: "/bin/server\n",
        args: "--verbose\n\n--port=9000",
        autoscaling: true,
        minReplicas: "2",
        maxReplicas: "5",
      }),
      LIMITS,
    );
    expect(errors).toEqual({});
    expect(request).toEqual({
      name: "api",
      image: "nginx:alpine",
      replicas: 3,
      port: 9000,
      timeoutSeconds: 60,
      env: [{ name: "MODE", value: "prod" }],
      resources: { requests: { cpu: "250m" }, limits: { memory: "1Gi" } },
      command: ["/bin/server"],
      args: ["--verbose", "--port=9000"],
      autoscaling: { minReplicas: 2, maxReplicas: 5 },
    });
  });

  it.each<[Partial<FunctionFormValues>, string, RegExp]>([
    [{ name: "Bad" }, "name", /lowercase/],
    [{ image: "" }, "image", /required/],
    [{ replicas: "21" }, "replicas", /between 0 and 20/],
    [{ replicas: "-1" }, "replicas", /between 0 and 20/],
    [{ replicas: "1.5" }, "replicas", /whole number/],
    [{ port: "0" }, "port", /between 1 and 65535/],
    [{ port: "65536" }, "port", /between 1 and 65535/],
    [{ timeoutSeconds: "901" }, "timeoutSeconds", /between 1 and 900/],
    [{ timeoutSeconds: "0" }, "timeoutSeconds", /between 1 and 900/],
    [{ requestsCpu: "lots" }, "resources.requests.cpu", /CPU request/],
    [{ requestsCpu: "0" }, "resources.requests.cpu", /greater than 0/],
    [{ limitsMemory: "64Mi" }, "resources.limits.memory", /at least the memory request \(128Mi\)/],
    [
      { requestsCpu: "1", limitsCpu: "500m" },
      "resources.limits.cpu",
      /at least the CPU request \(1\)/,
    ],
    [{ env: rows(["1X", "v"]) }, "env[0].name", /start with a letter/],
    [{ autoscaling: true }, "autoscaling.maxReplicas", /required/],
    [
      { autoscaling: true, minReplicas: "4", maxReplicas: "3" },
      "autoscaling.maxReplicas",
      /between 4 and 20/,
    ],
    [{ autoscaling: true, maxReplicas: "21" }, "autoscaling.maxReplicas", /between 1 and 20/],
    [
      { autoscaling: true, minReplicas: "0", maxReplicas: "3" },
      "autoscaling.minReplicas",
      /between 1 and 20/,
    ],
    [
      { autoscaling: true, maxReplicas: "3", targetCpuPercent: "101" },
      "autoscaling.targetCpuPercent",
      /between 1 and 100/,
    ],
  ])("%j → error on %s", (patch, field, msg) => {
    const { errors, request } = validateFunctionForm(form(patch), LIMITS);
    expect(request).toBeNull();
    expect(errors[field]).toMatch(msg);
  });

  it("lets a request above the default limit through when no limit is given (server raises it)", () => {
    expect(
      validateFunctionForm(form({ requestsCpu: "2", requestsMemory: "1Gi" }), LIMITS).errors,
    ).toEqual({});
  });

  it("checks replicas against the tenant's own limit", () => {
    const five = { maxReplicas: 5 };
    expect(validateFunctionForm(form({ replicas: "6" }), five).errors.replicas).toMatch(
      /between 0 and 5/,
    );
    expect(validateFunctionForm(form({ replicas: "21" }), { maxReplicas: 30 }).errors).toEqual({});
    expect(
      validateFunctionForm(form({ autoscaling: true, maxReplicas: "6" }), five).errors[
        "autoscaling.maxReplicas"
      ],
    ).toMatch(/between 1 and 5/);
    // like the server: a minimum of 1 stays allowed when the limit is 0
    const zero = validateFunctionForm(
      form({ autoscaling: true, minReplicas: "1", maxReplicas: "1" }),
      {
        maxReplicas: 0,
      },
    ).errors;
    expect(zero["autoscaling.minReplicas"]).toBeUndefined();
    expect(zero["autoscaling.maxReplicas"]).toMatch(/between 1 and 0/);
  });

  it("leaves the upper replica bounds to the server while the limits are unknown", () => {
    const { errors, request } = validateFunctionForm(
      form({ replicas: "50", autoscaling: true, minReplicas: "30", maxReplicas: "40" }),
      undefined,
    );
    expect(errors).toEqual({});
    expect(request).toMatchObject({
      replicas: 50,
      autoscaling: { minReplicas: 30, maxReplicas: 40 },
    });
    expect(validateFunctionForm(form({ replicas: "-1" }), undefined).errors.replicas).toMatch(
      /at least 0/,
    );
    expect(
      validateFunctionForm(
        form({ autoscaling: true, minReplicas: "4", maxReplicas: "3" }),
        undefined,
      ).errors["autoscaling.maxReplicas"],
    ).toMatch(/at least 4/);
  });

  it("reports several errors at once", () => {
    const { errors } = validateFunctionForm(form({ name: "", image: "", replicas: "x" }), LIMITS);
    expect(Object.keys(errors).sort()).toEqual(["image", "name", "replicas"]);
  });
});

describe("validateReplicas", () => {
  it("accepts 0 up to the tenant's limit", () => {
    expect(validateReplicas("0", LIMITS)).toEqual({ value: 0 });
    expect(validateReplicas(" 20 ", LIMITS)).toEqual({ value: 20 });
    expect(validateReplicas("35", { maxReplicas: 40 })).toEqual({ value: 35 });
  });
  it("rejects others", () => {
    expect(validateReplicas("21", LIMITS)).toEqual({ error: "Replicas must be between 0 and 20." });
    expect(validateReplicas("3", { maxReplicas: 2 })).toEqual({
      error: "Replicas must be between 0 and 2.",
    });
    expect(validateReplicas("two", LIMITS)).toHaveProperty("error");
    expect(validateReplicas("", LIMITS)).toHaveProperty("error");
    expect(validateReplicas("-1", undefined)).toEqual({ error: "Replicas must be at least 0." });
  });
  it("has no upper bound while the limits are unknown", () => {
    expect(validateReplicas("500", undefined)).toEqual({ value: 500 });
  });
});

describe("request-based autoscaling", () => {
  const base = {
    ...emptyForm(),
    name: "lazy",
    image: "nginx",
    autoscaling: true,
    scaleOn: "requests" as const,
  };

  it("may scale to zero, and always says it is request-based", () => {
    const r = validateFunctionForm(
      { ...base, minReplicas: "0", maxReplicas: "4", idleSeconds: "60" },
      LIMITS,
    );
    expect(r.errors).toEqual({});
    expect(r.request?.autoscaling).toEqual({
      minReplicas: 0,
      maxReplicas: 4,
      targetConcurrency: 10,
      idleSeconds: 60,
    });
    const kept = validateFunctionForm(
      { ...base, minReplicas: "1", maxReplicas: "4", targetConcurrency: "3" },
      LIMITS,
    );
    expect(kept.request?.autoscaling).toEqual({
      minReplicas: 1,
      maxReplicas: 4,
      targetConcurrency: 3,
    });
  });

  it("names the field it refuses", () => {
    const cases: [Partial<typeof base> & Record<string, string>, string][] = [
      [
        { minReplicas: "0", maxReplicas: "4", targetConcurrency: "0" },
        "autoscaling.targetConcurrency",
      ],
      [{ minReplicas: "0", maxReplicas: "4", idleSeconds: "5" }, "autoscaling.idleSeconds"],
      [{ minReplicas: "1", maxReplicas: "4", idleSeconds: "60" }, "autoscaling.idleSeconds"],
      [{ minReplicas: "0", maxReplicas: "0" }, "autoscaling.maxReplicas"],
    ];
    for (const [values, field] of cases) {
      expect(Object.keys(validateFunctionForm({ ...base, ...values }, LIMITS).errors)).toEqual([
        field,
      ]);
    }
  });
});

describe("retry.maxAttempts", () => {
  it("is sent when given, 1 to 20", () => {
    expect(validateFunctionForm(form({ maxAttempts: " 3 " }), LIMITS).request?.retry).toEqual({
      maxAttempts: 3,
    });
    expect(validateFunctionForm(form({}), LIMITS).request).not.toHaveProperty("retry");
    expect(validateFunctionForm(form({ maxAttempts: "21" }), LIMITS).errors).toEqual({
      "retry.maxAttempts": "Attempts must be between 1 and 20.",
    });
  });

  it("is checked the same way in the schedules card", () => {
    expect(validateMaxAttempts("")).toEqual({ value: undefined });
    expect(validateMaxAttempts("20")).toEqual({ value: 20 });
    expect(validateMaxAttempts("0")).toEqual({ error: "Attempts must be between 1 and 20." });
    expect(validateMaxAttempts("two")).toEqual({ error: "Attempts must be a whole number." });
  });
});

describe("secret references", () => {
  it("are sent without their row ids, empty rows left out", () => {
    const { errors, request } = validateFunctionForm(
      form({
        secretEnv: [newSecretEnvRow("DB_PASSWORD", "db", "password"), newSecretEnvRow()],
        secretFiles: ["db", "tls"],
      }),
      LIMITS,
    );
    expect(errors).toEqual({});
    expect(request?.secretEnv).toEqual([{ name: "DB_PASSWORD", secret: "db", key: "password" }]);
    expect(request?.secretFiles).toEqual(["db", "tls"]);
    expect(validateFunctionForm(form({}), LIMITS).request).not.toHaveProperty("secretEnv");
  });

  it("check names against env and each other, and that a secret and key are chosen", () => {
    const { errors } = validateFunctionForm(
      form({
        env: [{ id: "e", name: "A", value: "1" }],
        secretEnv: [
          newSecretEnvRow("A", "db", "k"),
          newSecretEnvRow("1BAD", "", ""),
          newSecretEnvRow("B", "db", "k"),
          newSecretEnvRow("B", "db", "k"),
        ],
      }),
      LIMITS,
    );
    expect(errors).toEqual({
      "secretEnv[0].name": '"A" is already set in env or above.',
      "secretEnv[1].name":
        "Variable name must start with a letter or '_' and contain only letters, digits, '_', '.' and '-'.",
      "secretEnv[1].secret": "Choose a secret.",
      "secretEnv[1].key": "Choose a key.",
      "secretEnv[3].name": '"B" is already set in env or above.',
    });
  });

  it("allow at most 64 entries together", () => {
    const { errors } = validateFunctionForm(
      form({
        secretEnv: Array.from({ length: 60 }, (_, i) => newSecretEnvRow(`V${i}`, "db", "k")),
        secretFiles: ["a", "b", "c", "d", "e"],
      }),
      LIMITS,
    );
    expect(errors).toEqual({
      secretEnv: "At most 64 secret variables and mounted secrets together.",
    });
  });

  it("map server paths to the row among those started on", () => {
    const a = newSecretEnvRow("A", "db", "k");
    const rows = [newSecretEnvRow(), a];
    expect(secretEnvKeyForField(rows, "secretEnv[0].secret")).toBe(`${a.id}.secret`);
    expect(secretEnvKeyForField(rows, "secretEnv[0]")).toBe(`${a.id}.name`);
    expect(secretEnvKeyForField(rows, "secretEnv[1].key")).toBeNull();
    expect(secretEnvKeyForField(rows, "env[0].name")).toBeNull();
  });
});
