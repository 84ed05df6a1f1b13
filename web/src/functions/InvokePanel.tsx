import { useId, useState, type FormEvent } from "react";
import { useMutation } from "@tanstack/react-query";
import type { InvokeResult } from "../api/client";
import { useApi } from "../auth/useAuth";
import { Button, Card, ErrorBanner, Notice } from "../components/ui";
import { inputClass } from "../components/styles";

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] as const;

function prettyBody(result: InvokeResult): string {
  const type = result.headers.find(([k]) => k === "content-type")?.[1] ?? "";
  if (type.includes("json") || /^\s*[[{]/.test(result.body)) {
    try {
      return JSON.stringify(JSON.parse(result.body), null, 2);
    } catch {
      // show as is
    }
  }
  return result.body;
}

function statusClass(status: number): string {
  if (status < 300) return "bg-emerald-50 text-emerald-800 ring-emerald-200";
  if (status < 400) return "bg-sky-50 text-sky-800 ring-sky-200";
  if (status < 500) return "bg-amber-50 text-amber-800 ring-amber-200";
  return "bg-red-50 text-red-800 ring-red-200";
}

export function InvokePanel({ name }: { name: string }) {
  const api = useApi();
  const ids = useId();
  const [method, setMethod] = useState<string>("GET");
  const [path, setPath] = useState("/");
  const [body, setBody] = useState("");
  const invoke = useMutation({
    mutationFn: () => api.invoke(name, { method, path, body }),
  });
  const hasBody = !["GET", "HEAD"].includes(method);

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    invoke.mutate();
  }

  const result = invoke.data;
  return (
    <Card title="Invoke">
      <form onSubmit={onSubmit} className="space-y-3" aria-label={`Invoke ${name}`}>
        <div className="flex flex-col gap-2 sm:flex-row">
          <div className="sm:w-32">
            <label htmlFor={`${ids}-method`} className="block text-sm font-medium text-slate-700">
              Method
            </label>
            <select
              id={`${ids}-method`}
              className={`${inputClass} mt-1`}
              value={method}
              onChange={(e) => setMethod(e.target.value)}
            >
              {METHODS.map((m) => (
                <option key={m}>{m}</option>
              ))}
            </select>
          </div>
          <div className="flex-1">
            <label htmlFor={`${ids}-path`} className="block text-sm font-medium text-slate-700">
              Path
            </label>
            <input
              id={`${ids}-path`}
              className={`${inputClass} mt-1 font-mono`}
              value={path}
              spellCheck={false}
              autoComplete="off"
              placeholder="/"
              onChange={(e) => setPath(e.target.value)}
            />
          </div>
        </div>
        {hasBody && (
          <div>
            <label htmlFor={`${ids}-body`} className="block text-sm font-medium text-slate-700">
              Body <span className="font-normal text-slate-500">(sent as application/json)</span>
            </label>
            <textarea
              id={`${ids}-body`}
              rows={4}
              spellCheck={false}
              className={`${inputClass} mt-1 font-mono`}
              placeholder='{"hello": "world"}'
              value={body}
              onChange={(e) => setBody(e.target.value)}
            />
          </div>
        )}
        <Button type="submit" variant="primary" disabled={invoke.isPending}>
          {invoke.isPending ? "Sending…" : "Send request"}
        </Button>
      </form>

      <div aria-live="polite" className="mt-4">
        {invoke.isError && <ErrorBanner title="The request failed" error={invoke.error} />}
        {result?.gatewayError && (
          <div className="mb-3">
            <Notice tone="warn">
              EventFlow answered instead of the function: {result.gatewayError.message}{" "}
              <code className="font-mono text-xs">({result.gatewayError.code})</code>
            </Notice>
          </div>
        )}
        {result && (
          <section aria-label="Response" className="space-y-3">
            <div className="flex flex-wrap items-center gap-3 text-sm">
              <span
                className={`rounded-full px-2 py-0.5 font-mono text-xs font-semibold ring-1 ring-inset ${statusClass(result.status)}`}
                data-testid="invoke-status"
              >
                {result.status} {result.statusText}
              </span>
              <span className="text-slate-500">{result.durationMs} ms</span>
            </div>
            <details className="rounded-md border border-slate-200">
              <summary className="cursor-pointer px-3 py-2 text-sm font-medium text-slate-700">
                Headers ({result.headers.length})
              </summary>
              <dl className="grid grid-cols-[max-content_1fr] gap-x-4 gap-y-1 border-t border-slate-100 px-3 py-2 font-mono text-xs">
                {result.headers.map(([k, v]) => (
                  <div key={k} className="contents">
                    <dt className="text-slate-500">{k}</dt>
                    <dd className="break-all text-slate-800">{v}</dd>
                  </div>
                ))}
              </dl>
            </details>
            {/* focusable so keyboard users can scroll a long body */}
            <pre
              tabIndex={0}
              aria-label="Response body"
              className="max-h-80 overflow-auto rounded-md bg-slate-900 p-3 font-mono text-xs leading-5 whitespace-pre-wrap break-all text-slate-100"
            >
              {result.body === "" ? (
                <span className="text-slate-400">(empty body)</span>
              ) : (
                prettyBody(result)
              )}
            </pre>
          </section>
        )}
      </div>
    </Card>
  );
}
