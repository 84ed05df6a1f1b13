import { useEffect, useReducer, useRef, useState } from "react";
import { ApiError } from "../api/client";
import { useApi } from "../auth/useAuth";
import { Button, Card } from "../components/ui";
import { initialLogState, logReducer, splitPodPrefix } from "./logReducer";

type StreamStatus = "connecting" | "streaming" | "ended" | "error";

const STATUS_TEXT: Record<StreamStatus, string> = {
  connecting: "Connecting…",
  streaming: "Live",
  ended: "Stream ended",
  error: "Disconnected",
};

/** Why the stream failed: the message, and the server's error code if it answered. */
interface StreamError {
  message: string;
  code: string | null;
}

function streamError(e: unknown): StreamError {
  if (e instanceof ApiError)
    // status 0: the server was not reached, so there is no code worth showing
    return { message: e.message, code: e.status === 0 ? null : e.code };
  return { message: e instanceof Error ? e.message : String(e), code: null };
}

export function LogsPanel({ name }: { name: string }) {
  const api = useApi();
  const [state, dispatch] = useReducer(
    (s: typeof initialLogState, a: Parameters<typeof logReducer>[1]) => logReducer(s, a),
    initialLogState,
  );
  const [status, setStatus] = useState<StreamStatus>("connecting");
  const [error, setError] = useState<StreamError | null>(null);
  const [attempt, setAttempt] = useState(0);
  const viewRef = useRef<HTMLPreElement>(null);

  useEffect(() => {
    const controller = new AbortController();
    api
      .streamLogs(name, {
        follow: true,
        tailLines: 100,
        signal: controller.signal,
        onOpen: () => setStatus("streaming"),
        onChunk: (text) => {
          setStatus("streaming");
          dispatch({ type: "chunk", text });
        },
      })
      .then(() => {
        if (controller.signal.aborted) return;
        dispatch({ type: "end" });
        setStatus("ended");
      })
      .catch((e: unknown) => {
        if (controller.signal.aborted) return;
        dispatch({ type: "end" });
        setStatus("error");
        setError(streamError(e));
      });
    return () => controller.abort();
  }, [api, name, attempt]);

  // follow: keep the newest line in view unless paused
  useEffect(() => {
    const el = viewRef.current;
    if (el && !state.paused) el.scrollTop = el.scrollHeight;
  }, [state.lines, state.paused]);

  function reconnect() {
    setStatus("connecting");
    setError(null);
    dispatch({ type: "clear" });
    setAttempt((n) => n + 1);
  }

  const live = status === "streaming" || status === "connecting";
  const dotClass =
    status === "streaming"
      ? "bg-emerald-500"
      : status === "connecting"
        ? "bg-amber-400 animate-pulse"
        : "bg-slate-400";

  return (
    <Card
      title="Logs"
      actions={
        <div className="flex flex-wrap items-center gap-2">
          <span
            className="inline-flex items-center gap-1.5 text-xs text-slate-500"
            role="status"
            aria-live="polite"
          >
            <span className={`h-2 w-2 rounded-full ${dotClass}`} aria-hidden="true" />
            {STATUS_TEXT[status]}
          </span>
          {live ? (
            <Button
              aria-pressed={!state.paused}
              onClick={() => dispatch({ type: state.paused ? "resume" : "pause" })}
            >
              {state.paused
                ? `Follow${state.pending.length ? ` (${state.pending.length} new)` : ""}`
                : "Pause"}
            </Button>
          ) : (
            <Button onClick={reconnect}>Reconnect</Button>
          )}
          <Button variant="ghost" onClick={() => dispatch({ type: "clear" })}>
            Clear
          </Button>
        </div>
      }
    >
      {error && (
        <p role="alert" className="mb-2 text-sm text-red-700">
          Could not stream logs: {error.message}
          {error.code && (
            <>
              {" "}
              <code className="font-mono text-xs">({error.code})</code>
            </>
          )}
        </p>
      )}
      {state.dropped > 0 && (
        <p className="mb-1 text-xs text-slate-500">{state.dropped} older lines not shown.</p>
      )}
      {/* focusable so keyboard users can scroll the log */}
      <pre
        ref={viewRef}
        tabIndex={0}
        aria-label={`Log output of ${name}`}
        className={`${state.lines.length === 0 ? "h-24" : "h-72"} overflow-auto rounded-md bg-slate-900 p-3 font-mono text-xs leading-5 text-slate-100`}
      >
        {state.lines.length === 0 ? (
          <span className="text-slate-400">
            {status === "connecting" ? "Waiting for log lines…" : "No log lines yet."}
          </span>
        ) : (
          state.lines.map((line, i) => {
            const { pod, text } = splitPodPrefix(line);
            return (
              <div key={state.dropped + i} className="whitespace-pre-wrap break-all">
                {pod && <span className="mr-2 text-sky-300">{pod}</span>}
                {text}
              </div>
            );
          })
        )}
      </pre>
    </Card>
  );
}
