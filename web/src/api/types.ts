// Types of the EventFlow public API, hand-written to the contract until the
// server's OpenAPI document (docs/openapi.json) is available to generate them.

export type AuthMode = "dev" | "production";

export interface AuthConfig {
  mode: AuthMode;
}

export interface DevTokenRequest {
  user_id: string;
  username: string;
  email: string;
}

export interface ApiKeyTokenRequest {
  api_key: string;
}

export type TokenRequest = DevTokenRequest | ApiKeyTokenRequest;

export interface TokenResponse {
  token: string;
  tenant: string;
  expiresAt: string;
}

export interface QuotaItem {
  used: string;
  hard: string;
  ratio: number;
}

export interface Quota {
  requestsCpu?: QuotaItem;
  requestsMemory?: QuotaItem;
  limitsCpu?: QuotaItem;
  limitsMemory?: QuotaItem;
  pods?: QuotaItem;
  functions?: QuotaItem;
}

export interface Me {
  tenant: string;
  namespace: string;
  role: string;
  quota: Quota;
}

export interface EnvVar {
  name: string;
  value: string;
}

export interface ResourceList {
  cpu: string;
  memory: string;
}

export interface Resources {
  requests: ResourceList;
  limits: ResourceList;
}

export interface Autoscaling {
  minReplicas: number;
  maxReplicas: number;
  targetCpuPercent: number;
}

export interface FunctionSpec {
  image: string;
  replicas: number;
  env: EnvVar[];
  resources: Resources;
  port: number;
  command?: string[] | null;
  args?: string[] | null;
  autoscaling?: Autoscaling | null;
  timeoutSeconds: number;
}

export type Phase = "Pending" | "Deploying" | "Running" | "Failed";

export interface Condition {
  type: string;
  status: string;
  reason?: string | null;
  message?: string | null;
  lastTransitionTime?: string | null;
}

export interface FunctionStatus {
  phase: Phase;
  reason: string | null;
  message: string | null;
  replicas: number;
  readyReplicas: number;
  url: string | null;
  conditions: Condition[];
}

export interface FunctionObject {
  name: string;
  tenant: string;
  namespace: string;
  spec: FunctionSpec;
  status: FunctionStatus;
  generation: number;
  createdAt: string;
  updatedAt: string;
}

export interface FunctionList {
  items: FunctionObject[];
  nextCursor: string | null;
}

export interface CreateFunctionRequest {
  name: string;
  image: string;
  replicas?: number;
  env?: EnvVar[];
  resources?: {
    requests?: Partial<ResourceList>;
    limits?: Partial<ResourceList>;
  };
  port?: number;
  command?: string[];
  args?: string[];
  autoscaling?: { minReplicas?: number; maxReplicas: number; targetCpuPercent?: number };
  timeoutSeconds?: number;
}

export type ReplaceFunctionRequest = Omit<CreateFunctionRequest, "name"> & { name?: string };

export interface PatchFunctionRequest {
  replicas?: number;
  image?: string;
  env?: EnvVar[];
}

export type ErrorCode =
  | "validation_failed"
  | "bad_request"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "payload_too_large"
  | "internal";

export interface ErrorBody {
  error: { code: ErrorCode | string; message: string; field?: string | null };
}
