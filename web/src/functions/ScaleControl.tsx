import { useId, useState, type FormEvent } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { ApiError } from "../api/client";
import { queryKeys, useMe } from "../api/queries";
import type { FunctionObject } from "../api/types";
import { useApi } from "../auth/useAuth";
import { Button } from "../components/ui";
import { validateReplicas } from "./validation";

export function ScaleControl({ fn }: { fn: FunctionObject }) {
  const api = useApi();
  const queryClient = useQueryClient();
  // the tenant's limits; undefined while loading (then the server checks them alone)
  const limits = useMe().data?.limits;
  const id = useId();
  const current = fn.spec.replicas;
  const [text, setText] = useState(String(current));
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);

  // follow the server's value when it changes elsewhere and the field is untouched
  const [base, setBase] = useState(current);
  if (current !== base) {
    setBase(current);
    setText(String(current));
  }

  const scale = useMutation({
    mutationFn: (replicas: number) => api.patchFunction(fn.name, { replicas }),
    onSuccess: (f) => {
      queryClient.setQueryData(queryKeys.function(f.name), f);
      void queryClient.invalidateQueries({ queryKey: queryKeys.functions() });
      setDone(`Scaled to ${f.spec.replicas} ${f.spec.replicas === 1 ? "replica" : "replicas"}.`);
    },
    onError: (e) => setError(e instanceof ApiError ? e.fieldMessage : e.message),
  });

  function submit(value: string) {
    setDone(null);
    const r = validateReplicas(value, limits);
    if ("error" in r) {
      setError(r.error);
      return;
    }
    setError(null);
    setText(String(r.value));
    scale.mutate(r.value);
  }

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    submit(text);
  }

  const n = Number(text);
  const step = (d: number) => {
    const next = Math.min(
      limits?.maxReplicas ?? Infinity,
      Math.max(0, (Number.isFinite(n) ? n : current) + d),
    );
    setText(String(next));
  };

  return (
    <form onSubmit={onSubmit} noValidate aria-label="Scale">
      <label htmlFor={id} className="block text-sm font-medium text-slate-700">
        Desired replicas
      </label>
      <div className="mt-1 flex flex-wrap items-center gap-2">
        <div className="flex">
          <Button
            className="rounded-r-none"
            aria-label="Decrease replicas"
            onClick={() => step(-1)}
            disabled={scale.isPending}
          >
            <span aria-hidden="true">−</span>
          </Button>
          <input
            id={id}
            inputMode="numeric"
            className="block w-20 border-y border-slate-300 bg-white px-3 py-2 text-center text-sm tabular-nums shadow-sm focus:border-indigo-500 focus:ring-2 focus:ring-indigo-200 focus:outline-none aria-[invalid=true]:border-red-500"
            value={text}
            aria-invalid={error ? true : undefined}
            aria-describedby={`${id}-msg`}
            onChange={(e) => setText(e.target.value)}
          />
          <Button
            className="rounded-l-none"
            aria-label="Increase replicas"
            onClick={() => step(1)}
            disabled={scale.isPending}
          >
            <span aria-hidden="true">+</span>
          </Button>
        </div>
        <Button
          type="submit"
          variant="primary"
          disabled={scale.isPending || text === String(current)}
        >
          {scale.isPending ? "Scaling…" : "Scale"}
        </Button>
      </div>
      <p
        id={`${id}-msg`}
        role="status"
        className={`mt-1 text-xs ${error ? "font-medium text-red-600" : "text-slate-500"}`}
      >
        {error ??
          done ??
          (fn.spec.autoscaling
            ? "Autoscaling is on; it may change this number."
            : limits
              ? `0 stops the function; at most ${limits.maxReplicas}.`
              : "0 stops the function.")}
      </p>
    </form>
  );
}
