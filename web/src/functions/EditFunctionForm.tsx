import { useState, type FormEvent } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { ApiError } from "../api/client";
import { queryKeys } from "../api/queries";
import type { FunctionObject } from "../api/types";
import { useApi } from "../auth/useAuth";
import { Button, ErrorBanner, TextField } from "../components/ui";
import { EnvEditor } from "./EnvEditor";
import {
  envRowIdForField,
  newEnvRow,
  validateEnv,
  validateImage,
  type EnvRow,
  type FieldErrors,
} from "./validation";

function toDisplay(rows: EnvRow[], errors: FieldErrors): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(errors)) {
    const rowId = k.startsWith("env[") ? envRowIdForField(rows, k) : null;
    out[rowId ?? k] ??= v;
  }
  return out;
}

/** Edits a function's image and environment with a PATCH. */
export function EditFunctionForm({ fn, onDone }: { fn: FunctionObject; onDone: () => void }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const [image, setImage] = useState(fn.spec.image);
  const [rows, setRows] = useState<EnvRow[]>(() =>
    fn.spec.env.map((e) => newEnvRow(e.name, e.value)),
  );
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [onField, setOnField] = useState(false);

  const save = useMutation({
    mutationFn: (body: { image: string; env: { name: string; value: string }[] }) =>
      api.patchFunction(fn.name, body),
    onSuccess: (f) => {
      queryClient.setQueryData(queryKeys.function(f.name), f);
      void queryClient.invalidateQueries({ queryKey: queryKeys.functions() });
      onDone();
    },
    onError: (e) => {
      if (e instanceof ApiError && e.field && (e.field === "image" || e.field.startsWith("env"))) {
        setErrors(toDisplay(rows, { [e.field]: e.fieldMessage }));
        setOnField(true);
      }
    },
  });

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    setOnField(false);
    save.reset();
    const found: FieldErrors = {};
    const img = image.trim();
    const imageErr = validateImage(img);
    if (imageErr) found.image = imageErr;
    const env = validateEnv(rows, found);
    const shown = toDisplay(rows, found);
    setErrors(shown);
    if (Object.keys(shown).length === 0) save.mutate({ image: img, env });
    else {
      const first = shown.image ? "edit-image" : `${Object.keys(shown)[0]}-name`;
      setTimeout(() => document.getElementById(first)?.focus(), 0);
    }
  }

  return (
    <form onSubmit={onSubmit} noValidate className="space-y-5" aria-label="Edit function">
      <TextField
        id="edit-image"
        label="Image"
        spellCheck={false}
        autoCapitalize="none"
        autoComplete="off"
        value={image}
        onChange={(e) => setImage(e.target.value)}
        error={errors.image}
        // eslint-disable-next-line jsx-a11y/no-autofocus -- the user just asked to edit
        autoFocus
      />
      <EnvEditor rows={rows} onChange={setRows} errors={errors} disabled={save.isPending} />
      {errors.env && <p className="text-xs font-medium text-red-600">{errors.env}</p>}
      {save.isError && !onField && <ErrorBanner title="Could not save" error={save.error} />}
      <div className="flex flex-wrap justify-end gap-2">
        <Button onClick={onDone} disabled={save.isPending}>
          Cancel
        </Button>
        <Button type="submit" variant="primary" disabled={save.isPending}>
          {save.isPending ? "Saving…" : "Save changes"}
        </Button>
      </div>
    </form>
  );
}
