import { useState, type FormEvent } from "react";
import { useMutation } from "@tanstack/react-query";
import { Navigate, useLocation } from "react-router";
import { ApiError } from "../api/client";
import { useAuthConfig } from "../api/queries";
import type { TokenRequest } from "../api/types";
import { Button, ErrorBanner, Notice, PageHeader, Spinner, TextField } from "../components/ui";
import { useDocumentTitle } from "../components/useDocumentTitle";
import { useAuth } from "./useAuth";
import { DEMO_USERS, devTokenRequest, validateUserId } from "./devUsers";

export function SignInPage() {
  useDocumentTitle("Sign in");
  const { session, notice, client, signIn } = useAuth();
  const location = useLocation();
  const from = (location.state as { from?: string } | null)?.from ?? "/functions";

  const config = useAuthConfig();
  const [userId, setUserId] = useState("");
  const [apiKey, setApiKey] = useState("");
  const [fieldError, setFieldError] = useState<string | null>(null);

  const login = useMutation({
    mutationFn: (req: TokenRequest) => client.token(req),
    onSuccess: (t) => signIn(t),
  });

  if (session) return <Navigate to={from} replace />;

  function submitDev(e: FormEvent) {
    e.preventDefault();
    const id = userId.trim();
    const err = validateUserId(id);
    setFieldError(err);
    if (!err) login.mutate(devTokenRequest(id));
  }

  function submitKey(e: FormEvent) {
    e.preventDefault();
    const key = apiKey.trim();
    if (!key) {
      setFieldError("Enter your API key.");
      return;
    }
    setFieldError(null);
    login.mutate({ api_key: key });
  }

  const serverError =
    login.error instanceof ApiError
      ? login.error
      : login.error
        ? new Error(String(login.error))
        : null;

  return (
    <div className="flex min-h-screen items-start justify-center px-4 py-12 sm:items-center">
      <main className="w-full max-w-md">
        <div className="mb-6 flex items-center gap-2 text-lg font-semibold text-slate-900">
          <svg viewBox="0 0 32 32" className="h-8 w-8" aria-hidden="true">
            <rect width="32" height="32" rx="8" fill="#4f46e5" />
            <path d="M9 17l5-9v7h5l-5 9v-7z" fill="white" />
          </svg>
          EventFlow
        </div>
        <div className="rounded-lg border border-slate-200 bg-white p-6 shadow-sm sm:p-8">
          <PageHeader title="Sign in" subtitle="Deploy and run functions in your tenant." />
          {notice && (
            <div className="mb-4">
              <Notice tone="warn">
                <p role="status">{notice}</p>
              </Notice>
            </div>
          )}
          {config.isPending && <Spinner label="Loading sign-in options…" />}
          {config.isError && (
            <ErrorBanner
              title="Could not load sign-in options"
              error={config.error}
              onRetry={() => void config.refetch()}
            />
          )}
          {config.data?.mode === "dev" && (
            <div className="space-y-6">
              <Notice tone="warn">
                <strong className="font-semibold">Development mode.</strong> Anyone can sign in as
                any user; no password is checked.
              </Notice>
              <fieldset>
                <legend className="text-sm font-medium text-slate-700">Demo users</legend>
                <div className="mt-2 grid grid-cols-2 gap-2">
                  {(config.data.demoUsers ?? DEMO_USERS).map((u) => (
                    <Button
                      key={u}
                      disabled={login.isPending}
                      onClick={() => {
                        setFieldError(null);
                        login.mutate(devTokenRequest(u));
                      }}
                    >
                      <span
                        aria-hidden="true"
                        className="flex h-6 w-6 items-center justify-center rounded-full bg-indigo-100 text-xs font-semibold uppercase text-indigo-700"
                      >
                        {u[0]}
                      </span>
                      <span className="sr-only">Sign in as </span>
                      {u}
                    </Button>
                  ))}
                </div>
              </fieldset>
              <form onSubmit={submitDev} noValidate className="space-y-3">
                <TextField
                  label="Or another user id"
                  name="userId"
                  autoComplete="username"
                  autoCapitalize="none"
                  spellCheck={false}
                  placeholder="e.g. team-blue"
                  value={userId}
                  onChange={(e) => setUserId(e.target.value)}
                  error={fieldError ?? undefined}
                  hint="Lowercase letters, digits and '-'. Your tenant namespace will be tenant-<id>."
                />
                <Button
                  type="submit"
                  variant="primary"
                  className="w-full"
                  disabled={login.isPending}
                >
                  {login.isPending ? "Signing in…" : "Sign in"}
                </Button>
              </form>
            </div>
          )}
          {config.data?.mode === "production" && (
            <form onSubmit={submitKey} noValidate className="space-y-4">
              <TextField
                label="API key"
                name="apiKey"
                type="password"
                autoComplete="current-password"
                spellCheck={false}
                placeholder="efk_…"
                value={apiKey}
                onChange={(e) => setApiKey(e.target.value)}
                error={fieldError ?? undefined}
                hint="Ask your EventFlow administrator for a key."
              />
              <Button type="submit" variant="primary" className="w-full" disabled={login.isPending}>
                {login.isPending ? "Signing in…" : "Sign in"}
              </Button>
            </form>
          )}
          {serverError && (
            <div className="mt-4">
              <ErrorBanner title="Sign-in failed" error={serverError} />
            </div>
          )}
        </div>
      </main>
    </div>
  );
}
