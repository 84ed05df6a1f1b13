/** DOM id of the input that edits a server field path such as `resources.limits.cpu`. */
export function fieldId(path: string): string {
  return `field-${path.replace(/[^A-Za-z0-9]+/g, "-")}`;
}

/** Field paths the create form has inputs for; other server paths fall back to their parent. */
export const FORM_FIELDS = [
  "name",
  "image",
  "replicas",
  "port",
  "timeoutSeconds",
  "resources.requests.cpu",
  "resources.requests.memory",
  "resources.limits.cpu",
  "resources.limits.memory",
  "command",
  "args",
  "autoscaling.minReplicas",
  "autoscaling.maxReplicas",
  "autoscaling.targetCpuPercent",
  "autoscaling.targetConcurrency",
  "autoscaling.idleSeconds",
  "retry.maxAttempts",
] as const;

/** Resolves a server field path to a form field: `command[2]` → `command`, `resources` stays null. */
export function resolveFormField(path: string): string | null {
  if (/^env\[\d+\]/.test(path)) return path.replace(/^(env\[\d+\]).*$/, "$1.name");
  let p = path;
  for (;;) {
    if ((FORM_FIELDS as readonly string[]).includes(p)) return p;
    const next = p.replace(/(\[\d+\]|\.[^.[\]]+)$/, "");
    if (next === p || next === "") return null;
    p = next;
  }
}
