import { Link, useLocation } from "react-router";
import { useFunctions } from "../api/queries";
import { Button, ErrorBanner, PageHeader, Spinner } from "../components/ui";
import { buttonClass } from "../components/styles";
import { useDocumentTitle } from "../components/useDocumentTitle";
import { formatAge } from "../lib/time";
import { PhaseBadge } from "./PhaseBadge";

export function FunctionsListPage() {
  useDocumentTitle("Functions");
  const query = useFunctions();
  const items = query.data?.pages.flatMap((p) => p.items) ?? [];
  const deleted = (useLocation().state as { deleted?: string } | null)?.deleted;

  return (
    <>
      <PageHeader
        title="Functions"
        subtitle="Container images running in your tenant. This list refreshes every few seconds."
        actions={
          <Link to="/functions/new" className={buttonClass("primary")}>
            <span aria-hidden="true">+</span> New function
          </Link>
        }
      />
      {deleted && (
        <p
          role="status"
          className="mb-4 rounded-md border border-emerald-200 bg-emerald-50 px-4 py-3 text-sm text-emerald-900"
        >
          Deleted <strong className="font-semibold">{deleted}</strong>.
        </p>
      )}
      {query.isPending && <Spinner label="Loading functions…" />}
      {query.isError && !query.data && (
        <ErrorBanner
          title="Could not load functions"
          error={query.error}
          onRetry={() => void query.refetch()}
        />
      )}
      {query.data && items.length === 0 && (
        <div className="rounded-lg border border-dashed border-slate-300 bg-white px-6 py-12 text-center">
          <h2 className="text-base font-semibold text-slate-900">No functions yet</h2>
          <p className="mx-auto mt-2 max-w-md text-sm text-slate-600">
            A function is a container image that EventFlow runs for you and exposes over HTTP.
            Deploy one, for example{" "}
            <code className="rounded bg-slate-100 px-1 py-0.5 text-xs">nginx:alpine</code>, and it
            will appear here with its status.
          </p>
          <Link to="/functions/new" className={buttonClass("primary", "mt-6")}>
            Deploy your first function
          </Link>
        </div>
      )}
      {items.length > 0 && (
        <div className="overflow-hidden rounded-lg border border-slate-200 bg-white shadow-sm">
          <table className="min-w-full divide-y divide-slate-200 text-sm">
            <caption className="sr-only">Functions in your tenant</caption>
            <thead className="bg-slate-50 text-left text-xs font-medium uppercase tracking-wide text-slate-500">
              <tr>
                <th scope="col" className="px-4 py-3">
                  Name
                </th>
                <th scope="col" className="hidden px-4 py-3 md:table-cell">
                  Image
                </th>
                <th scope="col" className="px-4 py-3">
                  <abbr title="Ready / desired replicas" className="no-underline">
                    Ready
                  </abbr>
                </th>
                <th scope="col" className="px-4 py-3">
                  Phase
                </th>
                <th scope="col" className="hidden px-4 py-3 sm:table-cell">
                  Age
                </th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-100">
              {items.map((f) => (
                <tr
                  key={f.name}
                  className="hover:bg-slate-50"
                  data-testid={`function-row-${f.name}`}
                >
                  <td className="max-w-[12rem] px-4 py-3 align-top">
                    <Link
                      to={`/functions/${encodeURIComponent(f.name)}`}
                      className="font-medium break-all text-indigo-700 hover:text-indigo-900 hover:underline"
                    >
                      {f.name}
                    </Link>
                    <div className="mt-0.5 truncate font-mono text-xs text-slate-500 md:hidden">
                      {f.spec.image}
                    </div>
                  </td>
                  <td className="hidden max-w-xs truncate px-4 py-3 align-top font-mono text-xs text-slate-600 md:table-cell">
                    {f.spec.image}
                  </td>
                  <td className="px-4 py-3 align-top tabular-nums text-slate-700">
                    {f.status.readyReplicas}/{f.spec.replicas}
                  </td>
                  <td className="px-4 py-3 align-top">
                    <PhaseBadge phase={f.status.phase} reason={f.status.reason} />
                  </td>
                  <td className="hidden px-4 py-3 align-top text-slate-500 sm:table-cell">
                    <time dateTime={f.createdAt} title={f.createdAt}>
                      {formatAge(f.createdAt)}
                    </time>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {query.hasNextPage && (
            <div className="border-t border-slate-100 px-4 py-3 text-center">
              <Button
                onClick={() => void query.fetchNextPage()}
                disabled={query.isFetchingNextPage}
              >
                {query.isFetchingNextPage ? "Loading…" : "Load more"}
              </Button>
            </div>
          )}
        </div>
      )}
      {query.isError && query.data && (
        <p role="status" className="mt-3 text-sm text-amber-700">
          Could not refresh the list: {query.error.message} Showing the last known state.
        </p>
      )}
    </>
  );
}
