import { useMe } from "../api/queries";
import { Card, ErrorBanner, PageHeader, Spinner } from "../components/ui";
import { useDocumentTitle } from "../components/useDocumentTitle";
import { quotaRows, type QuotaRow } from "./quota";
import { RegistryLogins } from "./RegistryLogins";
import { Secrets } from "./Secrets";
import { TenantUsage } from "./TenantUsage";

const BAR: Record<QuotaRow["level"], string> = {
  ok: "bg-indigo-500",
  warn: "bg-amber-500",
  full: "bg-red-500",
};

function QuotaBar({ row }: { row: QuotaRow }) {
  const labelId = `quota-${row.key}`;
  return (
    <div>
      <div className="flex items-baseline justify-between gap-2 text-sm">
        <span id={labelId} className="font-medium text-slate-700">
          {row.label}
        </span>
        <span className="font-mono text-xs text-slate-600 tabular-nums">
          {row.item.used} / {row.item.hard}
        </span>
      </div>
      <div
        role="progressbar"
        aria-labelledby={labelId}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={row.percent}
        aria-valuetext={`${row.item.used} of ${row.item.hard} used (${row.percent}%)`}
        className="mt-1.5 h-2 overflow-hidden rounded-full bg-slate-100"
      >
        <div
          className={`h-full rounded-full ${BAR[row.level]}`}
          style={{ width: `${row.percent}%` }}
        />
      </div>
    </div>
  );
}

export function TenantPage() {
  useDocumentTitle("Tenant");
  const me = useMe({ live: true });

  return (
    <>
      <PageHeader
        title="Tenant"
        subtitle="Your namespace, how much of its quota is in use, your functions' calls and pods over time, your registry logins and your secrets."
      />
      {me.isPending && <Spinner label="Loading tenant…" />}
      {me.isError && !me.data && (
        <ErrorBanner
          title="Could not load your tenant"
          error={me.error}
          onRetry={() => void me.refetch()}
        />
      )}
      {me.data && (
        <div className="grid grid-cols-1 gap-6 lg:grid-cols-3">
          <Card title="Identity">
            <dl className="space-y-3 text-sm">
              <div>
                <dt className="text-slate-500">Tenant</dt>
                <dd className="font-medium text-slate-900">{me.data.tenant}</dd>
              </div>
              <div>
                <dt className="text-slate-500">Namespace</dt>
                <dd className="font-mono text-slate-900">{me.data.namespace}</dd>
              </div>
              {me.data.email && (
                <div>
                  <dt className="text-slate-500">Email</dt>
                  <dd className="break-all text-slate-900">{me.data.email}</dd>
                </div>
              )}
              <div>
                <dt className="text-slate-500">Role</dt>
                <dd className="text-slate-900">{me.data.role}</dd>
              </div>
            </dl>
          </Card>
          <Card title="Quota" className="lg:col-span-2">
            {quotaRows(me.data.quota).length === 0 ? (
              <p className="text-sm text-slate-500">No quota is set for this tenant.</p>
            ) : (
              <div className="space-y-5">
                {quotaRows(me.data.quota).map((row) => (
                  <QuotaBar key={row.key} row={row} />
                ))}
              </div>
            )}
          </Card>
          <TenantUsage className="lg:col-span-3" />
          <RegistryLogins />
          <Secrets />
        </div>
      )}
    </>
  );
}
