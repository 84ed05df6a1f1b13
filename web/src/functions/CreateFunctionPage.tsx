import { useId, useState, type FormEvent, type ReactNode } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Link, useNavigate } from "react-router";
import { ApiError } from "../api/client";
import { queryKeys, useMe, useSamples } from "../api/queries";
import type { CreateFunctionRequest, FunctionObject, Sample } from "../api/types";
import { useApi } from "../auth/useAuth";
import { Button, ErrorBanner, PageHeader, Spinner, TextField } from "../components/ui";
import { buttonClass, inputClass } from "../components/styles";
import { useDocumentTitle } from "../components/useDocumentTitle";
import { EnvEditor } from "./EnvEditor";
import { SecretRefsEditor } from "./SecretRefsEditor";
import { secretRefsInputId } from "./secretRefs";
import { fieldId } from "./fieldIds";
import { displayErrors } from "./formErrors";
import { deploySample } from "./samples";
import {
  DEFAULTS,
  emptyForm,
  MAX_ATTEMPTS_MAX,
  MAX_ATTEMPTS_MIN,
  NAME_MAX,
  secretFileKey,
  validateFunctionForm,
  type FieldErrors,
  type FunctionFormValues,
} from "./validation";

function focusFirstError(values: FunctionFormValues, errors: Record<string, string>) {
  const order = [
    "name",
    "image",
    "replicas",
    ...values.env.map((r) => r.id),
    ...values.secretEnv.flatMap((r) => [`${r.id}.name`, `${r.id}.secret`, `${r.id}.key`]),
    "secretEnv",
    ...values.secretFiles.map(secretFileKey),
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
  ];
  const first = order.find((k) => errors[k]);
  if (!first) return;
  const id = first.startsWith("env-")
    ? `${first}-name`
    : (secretRefsInputId(first) ?? fieldId(first));
  // after React has rendered the error state
  setTimeout(() => document.getElementById(id)?.focus(), 0);
}

function Section({
  title,
  children,
  description,
}: {
  title: string;
  description?: string;
  children: ReactNode;
}) {
  return (
    <section className="border-t border-slate-200 pt-6 first:border-t-0 first:pt-0">
      <h2 className="text-base font-semibold text-slate-900">{title}</h2>
      {description && <p className="mt-1 text-sm text-slate-500">{description}</p>}
      <div className="mt-4 space-y-4">{children}</div>
    </section>
  );
}

/** Caches a function just created and opens its page. */
function useOpenCreated() {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  return (f: FunctionObject) => {
    void queryClient.invalidateQueries({ queryKey: queryKeys.functions() });
    queryClient.setQueryData(queryKeys.function(f.name), f);
    void navigate(`/functions/${encodeURIComponent(f.name)}`);
  };
}

/**
 * The sample images the server offers (`--sample-image`), each deployable in
 * one step or usable as a template for the form. Nothing when there are none.
 */
function SamplesSection({
  disabled,
  onTemplate,
}: {
  disabled: boolean;
  onTemplate: (sample: Sample) => void;
}) {
  const api = useApi();
  const openCreated = useOpenCreated();
  const headingId = useId();
  const samples = useSamples();
  const deploy = useMutation({
    mutationFn: (sample: Sample) => deploySample(api, sample),
    onSuccess: openCreated,
  });

  const box = "mb-6 max-w-3xl";
  if (samples.isPending) {
    return (
      <div className={box}>
        <Spinner label="Loading samples…" />
      </div>
    );
  }
  if (samples.isError) {
    return (
      <div className={box}>
        <ErrorBanner
          title="Could not load the sample functions"
          error={samples.error}
          onRetry={() => void samples.refetch()}
        />
      </div>
    );
  }
  const items = samples.data.items;
  if (items.length === 0) return null;
  const busy = disabled || deploy.isPending;

  return (
    <section
      aria-labelledby={headingId}
      className={`${box} rounded-lg border border-slate-200 bg-white p-4 shadow-sm sm:p-6`}
    >
      <h2 id={headingId} className="text-base font-semibold text-slate-900">
        Start from a sample
      </h2>
      <p className="mt-1 text-sm text-slate-500">
        Deploy a ready-made function in one step, then call it and read its logs on its page. Or use
        one as a template for the form below.
      </p>
      <ul className="mt-4 divide-y divide-slate-100">
        {items.map((sample) => {
          const deploying = deploy.isPending && deploy.variables.name === sample.name;
          return (
            <li
              key={sample.name}
              data-testid={`sample-${sample.name}`}
              className="flex flex-wrap items-center justify-between gap-3 py-3 first:pt-0 last:pb-0"
            >
              <div className="min-w-0">
                <p className="font-mono text-sm font-medium text-slate-900">{sample.name}</p>
                {sample.description && (
                  <p className="mt-0.5 text-sm text-slate-600">{sample.description}</p>
                )}
                <p className="mt-0.5 font-mono text-xs break-all text-slate-500">{sample.image}</p>
              </div>
              <div className="flex flex-wrap gap-2">
                <Button variant="primary" disabled={busy} onClick={() => deploy.mutate(sample)}>
                  {deploying ? `Deploying ${sample.name}…` : `Deploy ${sample.name}`}
                </Button>
                <Button disabled={busy} onClick={() => onTemplate(sample)}>
                  Use as template<span className="sr-only"> for {sample.name}</span>
                </Button>
              </div>
            </li>
          );
        })}
      </ul>
      {deploy.isError && (
        <div className="mt-4">
          <ErrorBanner title={`Could not deploy ${deploy.variables.name}`} error={deploy.error} />
        </div>
      )}
    </section>
  );
}

export function CreateFunctionPage() {
  useDocumentTitle("New function");
  const api = useApi();
  const openCreated = useOpenCreated();
  // the tenant's limits; undefined while loading (then the server checks them alone)
  const limits = useMe().data?.limits;
  const maxReplicas = limits?.maxReplicas;
  const [values, setValues] = useState<FunctionFormValues>(emptyForm);
  const [errors, setErrors] = useState<Record<string, string>>({});
  // Whether the last server error was shown on a field rather than as a banner.
  const [onField, setOnField] = useState(false);

  const create = useMutation({
    mutationFn: (req: CreateFunctionRequest) => api.createFunction(req),
    onSuccess: openCreated,
    onError: (e) => {
      if (!(e instanceof ApiError)) return;
      let serverErrors: FieldErrors | null = null;
      if (e.field) serverErrors = { [e.field]: e.fieldMessage };
      else if (e.code === "conflict")
        serverErrors = { name: e.message || "A function with this name already exists." };
      if (serverErrors) {
        const shown = displayErrors(values, serverErrors);
        if (!shown._form) {
          setErrors(shown);
          setOnField(true);
          focusFirstError(values, shown);
        }
      }
    },
  });

  const set = <K extends keyof FunctionFormValues>(key: K, value: FunctionFormValues[K]) =>
    setValues((v) => ({ ...v, [key]: value }));

  /** Fills in the sample's name and image, keeps the rest, and moves to the name. */
  function applyTemplate(sample: Sample) {
    create.reset();
    setOnField(false);
    setErrors({});
    setValues((v) => ({ ...v, name: sample.name, image: sample.image }));
    setTimeout(() => document.getElementById(fieldId("name"))?.focus(), 0);
  }

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    create.reset();
    setOnField(false);
    const { errors: found, request } = validateFunctionForm(values, limits);
    const shown = displayErrors(values, found);
    setErrors(shown);
    if (request) create.mutate(request);
    else focusFirstError(values, shown);
  }

  const err = (path: string) => errors[path];
  const field = (path: string) => ({ id: fieldId(path), error: err(path) });
  const busy = create.isPending;
  const errorCount = Object.keys(errors).length;
  const generalError = create.error && !onField ? create.error : null;

  return (
    <>
      <PageHeader
        title="New function"
        subtitle="Deploy a container image. Only name and image are required; everything else has sensible defaults."
      />
      <SamplesSection disabled={busy} onTemplate={applyTemplate} />
      <form
        onSubmit={onSubmit}
        noValidate
        className="max-w-3xl space-y-6 rounded-lg border border-slate-200 bg-white p-4 shadow-sm sm:p-6"
      >
        {errorCount > 0 && (
          <p role="alert" className="text-sm font-medium text-red-700">
            {errorCount === 1
              ? "Please fix the highlighted field."
              : `Please fix the ${errorCount} highlighted fields.`}
          </p>
        )}
        <Section title="Basics">
          <TextField
            {...field("name")}
            label="Name"
            name="name"
            required
            autoComplete="off"
            autoCapitalize="none"
            spellCheck={false}
            maxLength={NAME_MAX + 20}
            placeholder="hello-world"
            hint={`Lowercase letters, digits and '-', up to ${NAME_MAX} characters. Unique within your tenant.`}
            value={values.name}
            onChange={(e) => set("name", e.target.value)}
          />
          <TextField
            {...field("image")}
            label="Image"
            name="image"
            required
            autoComplete="off"
            autoCapitalize="none"
            spellCheck={false}
            placeholder="nginx:alpine"
            hint="A container image reference, e.g. nginx:alpine or ghcr.io/org/app:v1."
            value={values.image}
            onChange={(e) => set("image", e.target.value)}
          />
          <div className="grid gap-4 sm:grid-cols-3">
            <TextField
              {...field("replicas")}
              label="Replicas"
              name="replicas"
              inputMode="numeric"
              placeholder={String(DEFAULTS.replicas)}
              hint={maxReplicas === undefined ? "0 or more" : `0 to ${maxReplicas}`}
              value={values.replicas}
              onChange={(e) => set("replicas", e.target.value)}
            />
            <TextField
              {...field("port")}
              label="Port"
              name="port"
              inputMode="numeric"
              placeholder={String(DEFAULTS.port)}
              hint="Port the container listens on"
              value={values.port}
              onChange={(e) => set("port", e.target.value)}
            />
            <TextField
              {...field("timeoutSeconds")}
              label="Timeout (seconds)"
              name="timeoutSeconds"
              inputMode="numeric"
              placeholder={String(DEFAULTS.timeoutSeconds)}
              hint="1 to 900"
              value={values.timeoutSeconds}
              onChange={(e) => set("timeoutSeconds", e.target.value)}
            />
          </div>
        </Section>

        <Section title="Environment">
          <EnvEditor
            legendHidden
            rows={values.env}
            onChange={(rows) => set("env", rows)}
            errors={errors}
            disabled={busy}
          />
          {err("env") && <p className="text-xs font-medium text-red-600">{err("env")}</p>}
        </Section>

        <Section
          title="Secrets"
          description="Optional. Set variables from keys of your tenant's secrets, or mount whole secrets as files. The spec names them only: the values stay on the server."
        >
          <SecretRefsEditor
            rows={values.secretEnv}
            files={values.secretFiles}
            onRowsChange={(rows) => set("secretEnv", rows)}
            onFilesChange={(files) => set("secretFiles", files)}
            errors={errors}
            disabled={busy}
          />
        </Section>

        <Section
          title="Resources"
          description="Kubernetes quantities such as 100m, 0.5, 128Mi or 1Gi. Limits must be at least the requests."
        >
          <div className="grid gap-4 sm:grid-cols-2">
            <TextField
              {...field("resources.requests.cpu")}
              label="CPU request"
              placeholder={DEFAULTS.requestsCpu}
              value={values.requestsCpu}
              onChange={(e) => set("requestsCpu", e.target.value)}
            />
            <TextField
              {...field("resources.limits.cpu")}
              label="CPU limit"
              placeholder={DEFAULTS.limitsCpu}
              value={values.limitsCpu}
              onChange={(e) => set("limitsCpu", e.target.value)}
            />
            <TextField
              {...field("resources.requests.memory")}
              label="Memory request"
              placeholder={DEFAULTS.requestsMemory}
              value={values.requestsMemory}
              onChange={(e) => set("requestsMemory", e.target.value)}
            />
            <TextField
              {...field("resources.limits.memory")}
              label="Memory limit"
              placeholder={DEFAULTS.limitsMemory}
              value={values.limitsMemory}
              onChange={(e) => set("limitsMemory", e.target.value)}
            />
          </div>
        </Section>

        <Section
          title="Command"
          description="Override the image's entrypoint and arguments, one item per line. Leave empty to use the image's defaults."
        >
          <div className="grid gap-4 sm:grid-cols-2">
            <LinesField
              path="command"
              label="Command"
              error={err("command")}
              value={values.command}
              onChange={(v) => set("command", v)}
            />
            <LinesField
              path="args"
              label="Arguments"
              error={err("args")}
              value={values.args}
              onChange={(v) => set("args", v)}
            />
          </div>
        </Section>

        <Section title="Autoscaling">
          <label className="flex items-center gap-2 text-sm text-slate-700">
            <input
              type="checkbox"
              className="h-4 w-4 rounded border-slate-300 text-indigo-600"
              checked={values.autoscaling}
              onChange={(e) => set("autoscaling", e.target.checked)}
            />
            Autoscale
          </label>
          {values.autoscaling && (
            <fieldset className="flex flex-wrap gap-x-6 gap-y-2 text-sm text-slate-700">
              <legend className="sr-only">Scale on</legend>
              <label className="flex items-center gap-2">
                <input
                  type="radio"
                  name="scaleOn"
                  className="h-4 w-4 border-slate-300 text-indigo-600"
                  checked={values.scaleOn === "requests"}
                  onChange={() => set("scaleOn", "requests")}
                />
                On requests in flight (can scale to zero)
              </label>
              <label className="flex items-center gap-2">
                <input
                  type="radio"
                  name="scaleOn"
                  className="h-4 w-4 border-slate-300 text-indigo-600"
                  checked={values.scaleOn === "cpu"}
                  onChange={() => set("scaleOn", "cpu")}
                />
                On CPU usage
              </label>
            </fieldset>
          )}
          {values.autoscaling && (
            <div className="grid gap-4 sm:grid-cols-3">
              <TextField
                {...field("autoscaling.minReplicas")}
                label="Minimum replicas"
                inputMode="numeric"
                placeholder="1"
                hint={values.scaleOn === "requests" ? "0: scale to zero when idle" : undefined}
                value={values.minReplicas}
                onChange={(e) => set("minReplicas", e.target.value)}
              />
              <TextField
                {...field("autoscaling.maxReplicas")}
                label="Maximum replicas"
                inputMode="numeric"
                required
                placeholder={maxReplicas === undefined ? undefined : `up to ${maxReplicas}`}
                value={values.maxReplicas}
                onChange={(e) => set("maxReplicas", e.target.value)}
              />
              {values.scaleOn === "cpu" ? (
                <TextField
                  {...field("autoscaling.targetCpuPercent")}
                  label="Target CPU %"
                  inputMode="numeric"
                  placeholder={String(DEFAULTS.targetCpuPercent)}
                  value={values.targetCpuPercent}
                  onChange={(e) => set("targetCpuPercent", e.target.value)}
                />
              ) : (
                <TextField
                  {...field("autoscaling.targetConcurrency")}
                  label="Requests per replica"
                  inputMode="numeric"
                  placeholder={String(DEFAULTS.targetConcurrency)}
                  value={values.targetConcurrency}
                  onChange={(e) => set("targetConcurrency", e.target.value)}
                />
              )}
              {values.scaleOn === "requests" && values.minReplicas.trim() === "0" && (
                <TextField
                  {...field("autoscaling.idleSeconds")}
                  label="Idle seconds before zero"
                  inputMode="numeric"
                  placeholder="server default (300)"
                  value={values.idleSeconds}
                  onChange={(e) => set("idleSeconds", e.target.value)}
                />
              )}
            </div>
          )}
        </Section>

        <Section
          title="Asynchronous invocations"
          description="Requests sent with Prefer: respond-async, and runs of schedules, are queued and retried when the function fails. Add schedules on the function's page once it exists."
        >
          <div className="grid gap-4 sm:grid-cols-3">
            <TextField
              {...field("retry.maxAttempts")}
              label="Attempts per invocation"
              name="maxAttempts"
              inputMode="numeric"
              placeholder="platform default"
              hint={`${MAX_ATTEMPTS_MIN} to ${MAX_ATTEMPTS_MAX}`}
              value={values.maxAttempts}
              onChange={(e) => set("maxAttempts", e.target.value)}
            />
          </div>
        </Section>

        {generalError && <ErrorBanner title="Could not create the function" error={generalError} />}

        <div className="flex flex-wrap justify-end gap-2 border-t border-slate-200 pt-6">
          <Link to="/functions" className={buttonClass("secondary")}>
            Cancel
          </Link>
          <Button type="submit" variant="primary" disabled={busy}>
            {busy ? "Creating…" : "Create function"}
          </Button>
        </div>
      </form>
    </>
  );
}

function LinesField({
  path,
  label,
  value,
  error,
  onChange,
}: {
  path: string;
  label: string;
  value: string;
  error: string | undefined;
  onChange: (v: string) => void;
}) {
  const id = fieldId(path);
  return (
    <div>
      <label htmlFor={id} className="block text-sm font-medium text-slate-700">
        {label}
      </label>
      <textarea
        id={id}
        rows={3}
        spellCheck={false}
        className={`${inputClass} mt-1 font-mono`}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? `${id}-error` : undefined}
        value={value}
        onChange={(e) => onChange(e.target.value)}
      />
      {error && (
        <p id={`${id}-error`} className="mt-1 text-xs font-medium text-red-600">
          {error}
        </p>
      )}
    </div>
  );
}
