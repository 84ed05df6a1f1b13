import { useState, type FormEvent } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { ApiError } from "../api/client";
import { queryKeys, useRegistryCredentials } from "../api/queries";
import type { RegistryCredential } from "../api/types";
import { useApi } from "../auth/useAuth";
import { Button, Card, ErrorBanner, Spinner, TextField } from "../components/ui";
import { formatAge } from "../lib/time";
import { checkRegistryLogin, type RegistryField as Field } from "./registryLogin";

const EMPTY: Record<Field, string> = { registry: "", username: "", password: "" };

/**
 * The tenant's logins to private registries: every function pulls with them.
 * Passwords go in and never come back (the server does not return them).
 */
export function RegistryLogins() {
  const api = useApi();
  const queryClient = useQueryClient();
  const list = useRegistryCredentials();
  const [values, setValues] = useState(EMPTY);
  const [errors, setErrors] = useState<Partial<Record<Field | "_form", string>>>({});
  const [saved, setSaved] = useState<string | null>(null);

  const save = useMutation({
    mutationFn: (v: Record<Field, string>) =>
      api.putRegistryCredential(v.registry.trim(), { username: v.username, password: v.password }),
    onSuccess: (c: RegistryCredential) => {
      setValues(EMPTY);
      setErrors({});
      setSaved(c.registry);
      void queryClient.invalidateQueries({ queryKey: queryKeys.registryCredentials() });
    },
    onError: (e: unknown) => {
      if (
        e instanceof ApiError &&
        (e.field === "registry" || e.field === "username" || e.field === "password")
      ) {
        setErrors({ [e.field]: e.fieldMessage });
      } else {
        setErrors({ _form: e instanceof Error ? e.message : String(e) });
      }
    },
  });
  const remove = useMutation({
    mutationFn: (registry: string) => api.deleteRegistryCredential(registry),
    onSettled: () => queryClient.invalidateQueries({ queryKey: queryKeys.registryCredentials() }),
  });

  function submit(e: FormEvent) {
    e.preventDefault();
    setSaved(null);
    const found = checkRegistryLogin(values);
    setErrors(found);
    if (Object.keys(found).length === 0) save.mutate(values);
  }

  const set = (f: Field) => (e: { target: { value: string } }) =>
    setValues((v) => ({ ...v, [f]: e.target.value }));
  const items = list.data?.items ?? [];

  return (
    <Card title="Registry logins" className="lg:col-span-3">
      <p className="text-sm text-slate-600">
        Your functions pull images from private registries with these logins. Passwords are stored
        for the pull and never shown again.
      </p>
      {list.isPending && <Spinner label="Loading registry logins…" />}
      {list.isError && (
        <ErrorBanner
          title="Could not load the registry logins"
          error={list.error}
          onRetry={() => void list.refetch()}
        />
      )}
      {list.data && items.length === 0 && (
        <p className="mt-3 text-sm text-slate-500">No logins yet: images are pulled anonymously.</p>
      )}
      {items.length > 0 && (
        <table className="mt-3 w-full text-left text-sm">
          <thead className="text-xs uppercase text-slate-500">
            <tr>
              <th className="py-1 pr-4 font-medium">Registry</th>
              <th className="py-1 pr-4 font-medium">User</th>
              <th className="py-1 pr-4 font-medium">Updated</th>
              <th className="py-1">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((c) => (
              <tr key={c.registry} className="border-t border-slate-100">
                <td className="py-2 pr-4 font-mono">{c.registry}</td>
                <td className="py-2 pr-4">{c.username}</td>
                <td className="py-2 pr-4 text-slate-500">{formatAge(c.updatedAt)}</td>
                <td className="py-2 text-right">
                  <Button
                    variant="danger"
                    aria-label={`Remove the login for ${c.registry}`}
                    disabled={remove.isPending && remove.variables === c.registry}
                    onClick={() => remove.mutate(c.registry)}
                  >
                    Remove
                  </Button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {remove.isError && <ErrorBanner title="Could not remove the login" error={remove.error} />}
      <form onSubmit={submit} noValidate className="mt-4 grid grid-cols-1 gap-3 sm:grid-cols-4">
        <TextField
          label="Registry"
          placeholder="ghcr.io"
          value={values.registry}
          onChange={set("registry")}
          error={errors.registry}
          autoComplete="off"
          spellCheck={false}
        />
        <TextField
          label="User"
          value={values.username}
          onChange={set("username")}
          error={errors.username}
          autoComplete="off"
          spellCheck={false}
        />
        <TextField
          label="Password or token"
          type="password"
          value={values.password}
          onChange={set("password")}
          error={errors.password}
          autoComplete="new-password"
        />
        <div className="flex items-end">
          <Button type="submit" variant="primary" disabled={save.isPending}>
            {save.isPending ? "Saving…" : "Save login"}
          </Button>
        </div>
      </form>
      {errors._form && <ErrorBanner title="Could not save the login" error={errors._form} />}
      {saved && (
        <p role="status" className="mt-2 text-sm text-emerald-700">
          Login for {saved} saved.
        </p>
      )}
    </Card>
  );
}
