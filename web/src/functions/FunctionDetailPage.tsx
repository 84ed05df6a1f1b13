import { useState, type ReactNode } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Link, useNavigate, useParams } from "react-router";
import { ApiError } from "../api/client";
import { queryKeys, useFunction } from "../api/queries";
import type { FunctionObject } from "../api/types";
import { useApi } from "../auth/useAuth";
import { Dialog } from "../components/Dialog";
import { Button, Card, ErrorBanner, PageHeader, Spinner } from "../components/ui";
import { useDocumentTitle } from "../components/useDocumentTitle";
import { formatAge, formatDateTime } from "../lib/time";
import { SECRET_FILES_DIR } from "../tenant/secret";
import { EditFunctionForm } from "./EditFunctionForm";
import { HistoryCard } from "./HistoryCard";
import { InvocationsPanel } from "./InvocationsPanel";
import { InvokeKeysCard } from "./InvokeKeysCard";
import { InvokePanel } from "./InvokePanel";
import { LogsPanel } from "./LogsPanel";
import { MetricsCard } from "./MetricsCard";
import { PhaseBadge } from "./PhaseBadge";
import { ScaleControl } from "./ScaleControl";
import { SchedulesCard } from "./SchedulesCard";

function Row({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="grid grid-cols-1 gap-1 py-2 sm:grid-cols-3 sm:gap-4">
      <dt className="text-sm text-slate-500">{label}</dt>
      <dd className="text-sm break-words text-slate-900 sm:col-span-2">{children}</dd>
    </div>
  );
}

function Mono({ children }: { children: ReactNode }) {
  return <span className="font-mono text-[0.8rem]">{children}</span>;
}

/**
 * What the function reads from the tenant's secrets: each variable with the
 * secret and key it comes from, each mounted secret with its directory. Names
 * only; values are never sent to the browser. Shown only when it reads any.
 */
function SecretRefs({ fn }: { fn: FunctionObject }) {
  const env = fn.spec.secretEnv ?? [];
  const files = fn.spec.secretFiles ?? [];
  return (
    <div className="space-y-2" data-testid="detail-secrets">
      {env.length > 0 && (
        <ul aria-label="Environment variables from secrets" className="space-y-0.5">
          {env.map((e) => (
            <li key={e.name} data-testid={`secret-env-${e.name}`}>
              <Mono>
                {e.name} <span aria-hidden="true">←</span>
                <span className="sr-only"> from</span> {e.secret}/{e.key}
              </Mono>
            </li>
          ))}
        </ul>
      )}
      {files.length > 0 && (
        <ul aria-label="Secrets mounted as files" className="space-y-0.5">
          {files.map((f) => (
            <li key={f} data-testid={`secret-file-${f}`}>
              <Mono>
                {SECRET_FILES_DIR}/{f}/
              </Mono>{" "}
              <span className="text-slate-500">(secret {f}, one read-only file per key)</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function SpecView({ fn }: { fn: FunctionObject }) {
  const s = fn.spec;
  return (
    <dl className="divide-y divide-slate-100">
      <Row label="Image">
        <Mono>{s.image}</Mono>
      </Row>
      <Row label="Replicas">{s.replicas}</Row>
      <Row label="Port">{s.port}</Row>
      <Row label="Timeout">{s.timeoutSeconds} s</Row>
      <Row label="CPU">
        <Mono>
          {s.resources.requests.cpu} requested, {s.resources.limits.cpu} limit
        </Mono>
      </Row>
      <Row label="Memory">
        <Mono>
          {s.resources.requests.memory} requested, {s.resources.limits.memory} limit
        </Mono>
      </Row>
      {s.command && s.command.length > 0 && (
        <Row label="Command">
          <Mono>{s.command.join(" ")}</Mono>
        </Row>
      )}
      {s.args && s.args.length > 0 && (
        <Row label="Arguments">
          <Mono>{s.args.join(" ")}</Mono>
        </Row>
      )}
      <Row label="Autoscaling">
        {s.autoscaling
          ? `${s.autoscaling.minReplicas}–${s.autoscaling.maxReplicas} replicas at ${s.autoscaling.targetCpuPercent}% CPU`
          : "Off"}
      </Row>
      <Row label="Environment">
        {s.env.length === 0 ? (
          <span className="text-slate-500">None</span>
        ) : (
          <ul className="space-y-0.5">
            {s.env.map((e) => (
              <li key={e.name}>
                <Mono>
                  <span className="text-slate-500">{e.name}=</span>
                  {e.value}
                </Mono>
              </li>
            ))}
          </ul>
        )}
      </Row>
      {((s.secretEnv?.length ?? 0) > 0 || (s.secretFiles?.length ?? 0) > 0) && (
        <Row label="Secrets">
          <SecretRefs fn={fn} />
        </Row>
      )}
      <Row label="Namespace">
        <Mono>{fn.namespace}</Mono>
      </Row>
      <Row label="Generation">{fn.generation}</Row>
      <Row label="Created">
        <time dateTime={fn.createdAt}>{formatDateTime(fn.createdAt)}</time> (
        {formatAge(fn.createdAt)} ago)
      </Row>
      <Row label="Updated">
        <time dateTime={fn.updatedAt}>{formatDateTime(fn.updatedAt)}</time>
      </Row>
    </dl>
  );
}

function Conditions({ fn }: { fn: FunctionObject }) {
  const conditions = fn.status.conditions;
  if (conditions.length === 0)
    return <p className="text-sm text-slate-500">No conditions reported yet.</p>;
  return (
    <div className="-mx-4 overflow-x-auto sm:mx-0">
      <table className="min-w-full text-left text-sm">
        <caption className="sr-only">Status conditions</caption>
        <thead className="text-xs uppercase tracking-wide text-slate-500">
          <tr>
            <th scope="col" className="px-4 py-2 sm:pl-0">
              Type
            </th>
            <th scope="col" className="px-4 py-2">
              Status
            </th>
            <th scope="col" className="px-4 py-2">
              Reason
            </th>
            <th scope="col" className="px-4 py-2">
              Message
            </th>
            <th scope="col" className="px-4 py-2">
              Since
            </th>
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-100">
          {conditions.map((c) => (
            <tr key={c.type}>
              <td className="px-4 py-2 font-medium sm:pl-0">{c.type}</td>
              <td className="px-4 py-2">{c.status}</td>
              <td className="px-4 py-2">{c.reason ?? "—"}</td>
              <td className="px-4 py-2 text-slate-600">{c.message ?? "—"}</td>
              <td className="px-4 py-2 whitespace-nowrap text-slate-500">
                {c.lastTransitionTime ? formatAge(c.lastTransitionTime) : "—"}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function DeleteButton({ name }: { name: string }) {
  const api = useApi();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const del = useMutation({
    mutationFn: () => api.deleteFunction(name),
    onSuccess: () => {
      queryClient.removeQueries({ queryKey: queryKeys.function(name) });
      // a new function of the same name starts its own history and keys
      queryClient.removeQueries({ queryKey: queryKeys.revisions(name) });
      queryClient.removeQueries({ queryKey: queryKeys.invokeKeys(name) });
      queryClient.removeQueries({ queryKey: queryKeys.metrics(name) });
      void queryClient.invalidateQueries({ queryKey: queryKeys.functions() });
      void navigate("/functions", { state: { deleted: name } });
    },
  });
  return (
    <>
      <Button variant="danger" onClick={() => setOpen(true)}>
        Delete
      </Button>
      {open && (
        <Dialog
          title={`Delete ${name}?`}
          description="The function and its pods are removed. This cannot be undone."
          onClose={() => !del.isPending && setOpen(false)}
        >
          {del.isError && (
            <div className="mb-3">
              <ErrorBanner title="Could not delete" error={del.error} />
            </div>
          )}
          <div className="flex flex-wrap justify-end gap-2">
            <Button data-autofocus onClick={() => setOpen(false)} disabled={del.isPending}>
              Cancel
            </Button>
            <Button variant="danger" onClick={() => del.mutate()} disabled={del.isPending}>
              {del.isPending ? "Deleting…" : "Delete function"}
            </Button>
          </div>
        </Dialog>
      )}
    </>
  );
}

/** Request-based scaling: the range, the scaler's last decision, the last cold start. */
function ScalingSummary({ fn }: { fn: FunctionObject }) {
  const a = fn.spec.autoscaling;
  const sc = fn.status.scaling;
  if (!a || !sc) return null;
  return (
    <p className="mt-3 text-sm text-slate-600" data-testid="detail-scaling">
      Scales on requests: {a.minReplicas}–{a.maxReplicas} replicas, {a.targetConcurrency} in flight
      per replica
      {a.minReplicas === 0 ? ", to zero when idle" : ""}.
      {sc.lastScaleReason && sc.lastScaleTime && (
        <>
          {" "}
          Last scaled to {sc.desiredReplicas ?? "?"} ({sc.lastScaleReason}){" "}
          {formatAge(sc.lastScaleTime)} ago.
        </>
      )}
      {sc.lastColdStartTime && sc.lastColdStartMs != null && (
        <>
          {" "}
          Last cold start took {(sc.lastColdStartMs / 1000).toFixed(1)} s,{" "}
          {formatAge(sc.lastColdStartTime)} ago.
        </>
      )}
    </p>
  );
}

export function FunctionDetailPage() {
  const { name = "" } = useParams();
  useDocumentTitle(name);
  const [editing, setEditing] = useState(false);
  const query = useFunction(name);

  const back = (
    <Link to="/functions" className="text-sm text-indigo-700 hover:underline">
      <span aria-hidden="true">←</span> All functions
    </Link>
  );

  if (query.isPending)
    return (
      <>
        {back}
        <Spinner label={`Loading ${name}…`} />
      </>
    );
  if (query.isError && !query.data) {
    const notFound = query.error instanceof ApiError && query.error.status === 404;
    return (
      <>
        <div className="mb-4">{back}</div>
        <PageHeader title={notFound ? "Function not found" : name} />
        {notFound ? (
          <p className="text-sm text-slate-600">
            There is no function called <strong>{name}</strong> in your tenant. It may have been
            deleted.
          </p>
        ) : (
          <ErrorBanner
            title="Could not load the function"
            error={query.error}
            onRetry={() => void query.refetch()}
          />
        )}
      </>
    );
  }
  const fn = query.data;
  const st = fn.status;

  return (
    <>
      <div className="mb-4">{back}</div>
      <PageHeader
        title={fn.name}
        subtitle={<span className="font-mono text-xs break-all">{fn.spec.image}</span>}
        actions={<DeleteButton name={fn.name} />}
      />
      {query.isError && (
        <p role="status" className="mb-4 text-sm text-amber-700">
          Could not refresh: {query.error.message}
        </p>
      )}
      <div className="grid grid-cols-1 gap-6 lg:grid-cols-3">
        <div className="min-w-0 space-y-6 lg:col-span-2">
          <Card title="Status">
            <div className="flex flex-wrap items-start gap-x-8 gap-y-4">
              <div>
                <div className="text-xs uppercase tracking-wide text-slate-500">Phase</div>
                <div className="mt-1" data-testid="detail-phase">
                  <PhaseBadge phase={st.phase} reason={st.reason} />
                </div>
              </div>
              <div>
                <div className="text-xs uppercase tracking-wide text-slate-500">Ready</div>
                <div className="mt-1 text-sm tabular-nums" data-testid="detail-ready">
                  {st.readyReplicas}/{fn.spec.autoscaling ? st.replicas : fn.spec.replicas}
                </div>
              </div>
              {!st.synced && (
                <div>
                  <div className="text-xs tracking-wide text-slate-500 uppercase">Cluster</div>
                  <div className="mt-1 text-sm text-amber-700">Applying latest change…</div>
                </div>
              )}
              {st.url && (
                <div className="min-w-0">
                  <div className="text-xs uppercase tracking-wide text-slate-500">URL</div>
                  <div className="mt-1 font-mono text-xs break-all">{st.url}</div>
                </div>
              )}
            </div>
            {st.message && <p className="mt-3 text-sm text-slate-600">{st.message}</p>}
            {st.scaling && <ScalingSummary fn={fn} />}
            <div className="mt-5 border-t border-slate-100 pt-4">
              <ScaleControl fn={fn} />
            </div>
          </Card>
          <Card
            title="Specification"
            actions={
              !editing && <Button onClick={() => setEditing(true)}>Edit image &amp; env</Button>
            }
          >
            {editing ? (
              <EditFunctionForm fn={fn} onDone={() => setEditing(false)} />
            ) : (
              <SpecView fn={fn} />
            )}
          </Card>
          <MetricsCard key={fn.name} name={fn.name} />
          <SchedulesCard fn={fn} />
          <HistoryCard key={fn.name} fn={fn} />
          <Card title="Conditions">
            <Conditions fn={fn} />
          </Card>
        </div>
        <div className="min-w-0 space-y-6">
          <InvokePanel name={fn.name} />
          {/* keyed: a key shown once must not follow to another function's page */}
          <InvokeKeysCard key={fn.name} fn={fn} />
        </div>
        <div className="min-w-0 lg:col-span-3">
          <InvocationsPanel fn={fn} />
        </div>
        <div className="lg:col-span-3">
          <LogsPanel name={fn.name} />
        </div>
      </div>
    </>
  );
}
