// Client-side validation that mirrors the server's rules (eventflow-core
// `FunctionSpec::parse`), so most mistakes are caught before a round trip.
// The server stays the source of truth: its field errors are shown too.
// Rules that differ per tenant come from the server (`GET /v1/me` → `limits`)
// and are passed in; while they are not known yet, those bounds are not
// checked here (the server still checks them).
import type { CreateFunctionRequest, EnvVar, FunctionLimits, SecretEnvVar } from "../api/types";

export const NAME_MAX = 60;
export const IMAGE_MAX = 512;
export const MAX_ENV_VARS = 100;
export const ENV_NAME_MAX = 128;
/** `secretEnv` and `secretFiles` entries of one spec, together. */
export const MAX_SECRET_REFS = 64;
export const MAX_TIMEOUT_SECONDS = 900;
/** Bounds of `retry.maxAttempts`: attempts of one asynchronous invocation. */
export const MAX_ATTEMPTS_MIN = 1;
export const MAX_ATTEMPTS_MAX = 20;
export const DEFAULTS = {
  replicas: 1,
  port: 8080,
  timeoutSeconds: 30,
  requestsCpu: "100m",
  requestsMemory: "128Mi",
  limitsCpu: "500m",
  limitsMemory: "512Mi",
  targetCpuPercent: 80,
  targetConcurrency: 10,
} as const;

/** Field path (as the server names it) → message. */
export type FieldErrors = Record<string, string>;

export function validateName(name: string): string | null {
  if (name === "") return "Name is required.";
  if (name.length > NAME_MAX) return `Name must be at most ${NAME_MAX} characters.`;
  const bad = [...name].find((c) => !/[a-z0-9-]/.test(c));
  if (bad !== undefined)
    return `Name must consist of lowercase letters, digits and '-' (found ${JSON.stringify(bad)}).`;
  if (name.startsWith("-") || name.endsWith("-"))
    return "Name must start and end with a letter or digit.";
  return null;
}

// The distribution/reference grammar: [domain/]path[:tag][@digest].
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?`;
const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const TAG = "[\\w][\\w.-]{0,127}";
const DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
const REFERENCE = new RegExp(
  `^(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*(?::${TAG})?(?:@${DIGEST})?$`,
);

export function validateImage(image: string): string | null {
  if (image === "") return "Image is required.";
  if (image.length > IMAGE_MAX) return `Image must be at most ${IMAGE_MAX} characters.`;
  if (/\s/.test(image)) return "Image must not contain whitespace.";
  if (!REFERENCE.test(image))
    return "Image must be a valid reference with a lowercase repository, e.g. nginx:alpine or ghcr.io/org/app:v1.";
  const name = image.split("@")[0] ?? "";
  const repo = name.replace(new RegExp(`:${TAG}$`), "");
  if (repo.length > 255) return "Image repository name must be at most 255 characters.";
  return null;
}

const SUFFIXES: Record<string, [number, number]> = {
  "": [0, 0],
  n: [-9, 0],
  u: [-6, 0],
  m: [-3, 0],
  k: [3, 0],
  M: [6, 0],
  G: [9, 0],
  T: [12, 0],
  P: [15, 0],
  E: [18, 0],
  Ki: [0, 10],
  Mi: [0, 20],
  Gi: [0, 30],
  Ti: [0, 40],
  Pi: [0, 50],
  Ei: [0, 60],
};

/**
 * Parses a Kubernetes quantity (`100m`, `0.5`, `128Mi`, `1e3`) to its value in
 * units of 1e-9, or returns an error message.
 */
export function parseQuantity(text: string): { nanos: bigint } | { error: string } {
  if (text === "") return { error: "must not be empty" };
  if (text.length > 32) return { error: "is too long" };
  const m = /^([0-9]*)(?:\.([0-9]*))?(.*)$/.exec(text);
  if (!m) return { error: "is not a quantity" };
  const int = m[1] ?? "";
  const frac = m[2] ?? "";
  const suffix = m[3] ?? "";
  if (int === "" && frac === "") return { error: "must start with a number, e.g. 100m or 128Mi" };
  let exp10: number;
  let exp2: number;
  const known = SUFFIXES[suffix];
  if (known) {
    [exp10, exp2] = known;
  } else if (/^[eE][+-]?[0-9]+$/.test(suffix)) {
    exp10 = Number(suffix.slice(1));
    exp2 = 0;
    if (exp10 < -9 || exp10 > 18) return { error: "has an exponent out of range" };
  } else {
    return { error: `has an unknown unit ${JSON.stringify(suffix)} (use m, Ki, Mi, Gi, …)` };
  }
  const mantissa = BigInt(`${int}${frac}` || "0");
  const scale = exp10 + 9 - frac.length;
  let nanos: bigint;
  if (scale >= 0) {
    nanos = mantissa * 10n ** BigInt(scale);
  } else {
    const div = 10n ** BigInt(-scale);
    nanos = (mantissa + div - 1n) / div;
  }
  return { nanos: nanos * (1n << BigInt(exp2)) };
}

function parseInteger(text: string): number | null {
  const t = text.trim();
  if (!/^-?[0-9]+$/.test(t)) return null;
  return Number(t);
}

/** Checks `min <= n <= max`; an undefined `max` (not known yet) is not checked. */
function rangeError(label: string, n: number, min: number, max: number | undefined): string | null {
  if (max === undefined) return n < min ? `${label} must be at least ${min}.` : null;
  return n < min || n > max ? `${label} must be between ${min} and ${max}.` : null;
}

function checkInt(
  errors: FieldErrors,
  field: string,
  label: string,
  text: string,
  min: number,
  max: number | undefined,
): number | undefined {
  if (text.trim() === "") return undefined;
  const n = parseInteger(text);
  if (n === null) {
    errors[field] = `${label} must be a whole number.`;
    return undefined;
  }
  const error = rangeError(label, n, min, max);
  if (error) {
    errors[field] = error;
    return undefined;
  }
  return n;
}

export interface EnvRow {
  id: string;
  name: string;
  value: string;
}

let nextId = 0;
/** A new env row with a unique id (for React keys and error mapping). */
export function newEnvRow(name = "", value = ""): EnvRow {
  nextId += 1;
  return { id: `env-${nextId}`, name, value };
}

/** The env rules for a variable name (`env[].name` and `secretEnv[].name`). */
function envNameError(name: string): string | null {
  if (name === "" || name.length > ENV_NAME_MAX)
    return `Variable name must be 1 to ${ENV_NAME_MAX} characters.`;
  if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name))
    return "Variable name must start with a letter or '_' and contain only letters, digits, '_', '.' and '-'.";
  return null;
}

/** Validates environment rows; rows with an empty name and value are ignored. */
export function validateEnv(rows: EnvRow[], errors: FieldErrors): EnvVar[] {
  const vars = rows.filter((r) => r.name !== "" || r.value !== "");
  if (vars.length > MAX_ENV_VARS) errors.env = `At most ${MAX_ENV_VARS} variables are allowed.`;
  const seen = new Set<string>();
  vars.forEach((v, i) => {
    const field = `env[${i}].name`;
    const nameError = envNameError(v.name);
    if (nameError) {
      errors[field] = nameError;
    } else if (seen.has(v.name)) {
      errors[field] = `Duplicate variable ${JSON.stringify(v.name)}.`;
    }
    seen.add(v.name);
  });
  return vars.map(({ name, value }) => ({ name, value }));
}

/** Maps a server field path for env (`env[i].name`, index among non-empty rows) to a row id. */
export function envRowIdForField(rows: EnvRow[], field: string): string | null {
  const m = /^env\[(\d+)\]/.exec(field);
  if (!m) return null;
  const vars = rows.filter((r) => r.name !== "" || r.value !== "");
  return vars[Number(m[1])]?.id ?? null;
}

/** One `secretEnv` row of the form: variable `name` from `key` of secret `secret`. */
export interface SecretEnvRow {
  id: string;
  name: string;
  secret: string;
  key: string;
}

/** A new secretEnv row with a unique id (React key, error keys and DOM ids). */
export function newSecretEnvRow(name = "", secret = "", key = ""): SecretEnvRow {
  nextId += 1;
  return { id: `senv-${nextId}`, name, secret, key };
}

/** Rows the user started on: an entirely empty row is ignored. */
export function filledSecretEnv(rows: SecretEnvRow[]): SecretEnvRow[] {
  return rows.filter((r) => r.name !== "" || r.secret !== "" || r.key !== "");
}

/**
 * Validates the secret references: each variable's name (the env rules, and
 * not already set in `env` or an earlier row), a secret and a key chosen.
 * Whether the secret and key exist is the server's to say (422 on
 * `secretEnv[i].secret` / `.key` / `secretFiles[i]`). Errors use the
 * server's paths, indexed among the rows started on.
 */
export function validateSecretRefs(
  rows: SecretEnvRow[],
  files: string[],
  env: EnvVar[],
  errors: FieldErrors,
): { secretEnv: SecretEnvVar[]; secretFiles: string[] } {
  const filled = filledSecretEnv(rows);
  if (filled.length + files.length > MAX_SECRET_REFS)
    errors.secretEnv = `At most ${MAX_SECRET_REFS} secret variables and mounted secrets together.`;
  const seen = new Set(env.map((e) => e.name));
  filled.forEach((r, i) => {
    const f = `secretEnv[${i}]`;
    const nameError = envNameError(r.name);
    if (nameError) errors[`${f}.name`] = nameError;
    else if (seen.has(r.name))
      errors[`${f}.name`] = `${JSON.stringify(r.name)} is already set in env or above.`;
    seen.add(r.name);
    if (r.secret === "") errors[`${f}.secret`] = "Choose a secret.";
    if (r.key === "") errors[`${f}.key`] = "Choose a key.";
  });
  return {
    secretEnv: filled.map(({ name, secret, key }) => ({ name, secret, key })),
    secretFiles: [...files],
  };
}

/**
 * Maps a server field path for a secret variable (`secretEnv[i].name`,
 * `.secret` or `.key`; index among the rows started on) to the display key
 * of that input: `{rowId}.{name|secret|key}`; `secretEnv[i]` alone → its name.
 */
export function secretEnvKeyForField(rows: SecretEnvRow[], field: string): string | null {
  const m = /^secretEnv\[(\d+)\](?:\.(name|secret|key))?/.exec(field);
  if (!m) return null;
  const row = filledSecretEnv(rows)[Number(m[1])];
  return row ? `${row.id}.${m[2] ?? "name"}` : null;
}

/** The display key of a mounted secret's checkbox. */
export function secretFileKey(name: string): string {
  return `secretFile:${name}`;
}

export interface FunctionFormValues {
  name: string;
  image: string;
  replicas: string;
  port: string;
  timeoutSeconds: string;
  env: EnvRow[];
  /** `secretEnv`: variables set from keys of the tenant's secrets. */
  secretEnv: SecretEnvRow[];
  /** `secretFiles`: secrets mounted as files, in the order they were picked. */
  secretFiles: string[];
  requestsCpu: string;
  requestsMemory: string;
  limitsCpu: string;
  limitsMemory: string;
  /** One item per line. */
  command: string;
  /** One item per line. */
  args: string;
  autoscaling: boolean;
  /** What autoscaling follows: CPU (an HPA) or requests in flight (EventFlow's scaler). */
  scaleOn: "cpu" | "requests";
  minReplicas: string;
  maxReplicas: string;
  targetCpuPercent: string;
  targetConcurrency: string;
  idleSeconds: string;
  /** `retry.maxAttempts`; blank: the platform's default. */
  maxAttempts: string;
}

export function emptyForm(): FunctionFormValues {
  return {
    name: "",
    image: "",
    replicas: "",
    port: "",
    timeoutSeconds: "",
    env: [],
    secretEnv: [],
    secretFiles: [],
    requestsCpu: "",
    requestsMemory: "",
    limitsCpu: "",
    limitsMemory: "",
    command: "",
    args: "",
    autoscaling: false,
    scaleOn: "cpu",
    minReplicas: "",
    maxReplicas: "",
    targetCpuPercent: "",
    targetConcurrency: "",
    idleSeconds: "",
    maxAttempts: "",
  };
}

function lines(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.trimEnd())
    .filter((l) => l !== "");
}

/**
 * Validates the create form against the tenant's limits (undefined while
 * `/v1/me` is loading: upper replica bounds are then left to the server).
 * Returns the request to send when there are no errors; empty optional fields
 * are left out so the server applies its defaults.
 */
export function validateFunctionForm(
  v: FunctionFormValues,
  tenantLimits: FunctionLimits | undefined,
): {
  errors: FieldErrors;
  request: CreateFunctionRequest | null;
} {
  const maxReplicas = tenantLimits?.maxReplicas;
  const errors: FieldErrors = {};
  const name = v.name.trim();
  const image = v.image.trim();
  const nameErr = validateName(name);
  if (nameErr) errors.name = nameErr;
  const imageErr = validateImage(image);
  if (imageErr) errors.image = imageErr;

  const replicas = checkInt(errors, "replicas", "Replicas", v.replicas, 0, maxReplicas);
  const port = checkInt(errors, "port", "Port", v.port, 1, 65535);
  const timeoutSeconds = checkInt(
    errors,
    "timeoutSeconds",
    "Timeout",
    v.timeoutSeconds,
    1,
    MAX_TIMEOUT_SECONDS,
  );
  const env = validateEnv(v.env, errors);
  const secrets = validateSecretRefs(v.secretEnv, v.secretFiles, env, errors);
  const maxAttempts = checkInt(
    errors,
    "retry.maxAttempts",
    "Attempts",
    v.maxAttempts,
    MAX_ATTEMPTS_MIN,
    MAX_ATTEMPTS_MAX,
  );

  const q = (field: string, label: string, text: string, fallback: string) => {
    const t = text.trim();
    const r = parseQuantity(t === "" ? fallback : t);
    if ("error" in r) {
      errors[field] = `${label} ${r.error}.`;
      return null;
    }
    if (r.nanos === 0n && field.includes("requests")) {
      errors[field] = `${label} must be greater than 0.`;
      return null;
    }
    return r.nanos;
  };
  const reqCpu = q("resources.requests.cpu", "CPU request", v.requestsCpu, DEFAULTS.requestsCpu);
  const reqMem = q(
    "resources.requests.memory",
    "Memory request",
    v.requestsMemory,
    DEFAULTS.requestsMemory,
  );
  const limCpu = q("resources.limits.cpu", "CPU limit", v.limitsCpu, DEFAULTS.limitsCpu);
  const limMem = q(
    "resources.limits.memory",
    "Memory limit",
    v.limitsMemory,
    DEFAULTS.limitsMemory,
  );
  // An omitted limit is raised to the request by the server, so only a given one can be too low.
  if (v.limitsCpu.trim() !== "" && reqCpu !== null && limCpu !== null && limCpu < reqCpu)
    errors["resources.limits.cpu"] =
      `CPU limit must be at least the CPU request (${v.requestsCpu.trim() || DEFAULTS.requestsCpu}).`;
  if (v.limitsMemory.trim() !== "" && reqMem !== null && limMem !== null && limMem < reqMem)
    errors["resources.limits.memory"] =
      `Memory limit must be at least the memory request (${v.requestsMemory.trim() || DEFAULTS.requestsMemory}).`;

  let autoscaling: CreateFunctionRequest["autoscaling"];
  if (v.autoscaling) {
    const byRequests = v.scaleOn === "requests";
    const min = checkInt(
      errors,
      "autoscaling.minReplicas",
      "Minimum replicas",
      v.minReplicas,
      // request-based scaling may go to zero; CPU-based keeps one replica
      byRequests ? 0 : 1,
      maxReplicas === undefined ? undefined : Math.max(1, maxReplicas),
    );
    const minEff = Math.max(1, min ?? 1);
    let max: number | undefined;
    if (v.maxReplicas.trim() === "") {
      errors["autoscaling.maxReplicas"] = "Maximum replicas is required when autoscaling is on.";
    } else {
      max = checkInt(
        errors,
        "autoscaling.maxReplicas",
        "Maximum replicas",
        v.maxReplicas,
        minEff,
        maxReplicas,
      );
    }
    if (byRequests) {
      const target = checkInt(
        errors,
        "autoscaling.targetConcurrency",
        "Requests per replica",
        v.targetConcurrency,
        1,
        1000,
      );
      let idle: number | undefined;
      if (v.idleSeconds.trim() !== "") {
        if (min !== 0) {
          errors["autoscaling.idleSeconds"] =
            "The idle time applies only with a minimum of 0 replicas.";
        } else {
          idle = checkInt(errors, "autoscaling.idleSeconds", "Idle time", v.idleSeconds, 10, 86400);
        }
      }
      if (max !== undefined) {
        // always sent: it is what makes the scaling request-based
        autoscaling = { maxReplicas: max, targetConcurrency: target ?? DEFAULTS.targetConcurrency };
        if (min !== undefined) autoscaling.minReplicas = min;
        if (idle !== undefined) autoscaling.idleSeconds = idle;
      }
    } else {
      const target = checkInt(
        errors,
        "autoscaling.targetCpuPercent",
        "Target CPU",
        v.targetCpuPercent,
        1,
        100,
      );
      if (max !== undefined) {
        autoscaling = { maxReplicas: max };
        if (min !== undefined) autoscaling.minReplicas = min;
        if (target !== undefined) autoscaling.targetCpuPercent = target;
      }
    }
  }

  const command = lines(v.command);
  const args = lines(v.args);
  if (command.length > 64) errors.command = "At most 64 command items are allowed.";
  if (args.length > 64) errors.args = "At most 64 arguments are allowed.";

  if (Object.keys(errors).length > 0) return { errors, request: null };

  const request: CreateFunctionRequest = { name, image };
  if (replicas !== undefined) request.replicas = replicas;
  if (env.length > 0) request.env = env;
  if (secrets.secretEnv.length > 0) request.secretEnv = secrets.secretEnv;
  if (secrets.secretFiles.length > 0) request.secretFiles = secrets.secretFiles;
  const requests: { cpu?: string; memory?: string } = {};
  const limits: { cpu?: string; memory?: string } = {};
  if (v.requestsCpu.trim()) requests.cpu = v.requestsCpu.trim();
  if (v.requestsMemory.trim()) requests.memory = v.requestsMemory.trim();
  if (v.limitsCpu.trim()) limits.cpu = v.limitsCpu.trim();
  if (v.limitsMemory.trim()) limits.memory = v.limitsMemory.trim();
  if (Object.keys(requests).length || Object.keys(limits).length) {
    request.resources = {};
    if (Object.keys(requests).length) request.resources.requests = requests;
    if (Object.keys(limits).length) request.resources.limits = limits;
  }
  if (port !== undefined) request.port = port;
  if (command.length) request.command = command;
  if (args.length) request.args = args;
  if (autoscaling) request.autoscaling = autoscaling;
  if (timeoutSeconds !== undefined) request.timeoutSeconds = timeoutSeconds;
  if (maxAttempts !== undefined) request.retry = { maxAttempts };
  return { errors: {}, request };
}

/**
 * Validates a replica count typed into the scale control against the
 * tenant's limits (undefined while not known: no upper bound here).
 */
export function validateReplicas(
  text: string,
  tenantLimits: FunctionLimits | undefined,
): { value: number } | { error: string } {
  const n = parseInteger(text);
  if (n === null) return { error: "Replicas must be a whole number." };
  const error = rangeError("Replicas", n, 0, tenantLimits?.maxReplicas);
  return error ? { error } : { value: n };
}

/**
 * `retry.maxAttempts` as typed into the schedules card: blank leaves it to
 * the platform's default (undefined).
 */
export function validateMaxAttempts(
  text: string,
): { value: number | undefined } | { error: string } {
  const errors: FieldErrors = {};
  const value = checkInt(
    errors,
    "retry.maxAttempts",
    "Attempts",
    text,
    MAX_ATTEMPTS_MIN,
    MAX_ATTEMPTS_MAX,
  );
  const error = errors["retry.maxAttempts"];
  return error ? { error } : { value };
}
