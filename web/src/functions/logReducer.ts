// Pure state machine for the live log view: splits streamed text into lines,
// keeps a bounded buffer, and holds new lines back while the view is paused.

export const MAX_LOG_LINES = 2000;

export interface LogState {
  /** Lines shown in the view. */
  lines: string[];
  /** Text after the last newline, waiting for the rest of its line. */
  partial: string;
  /** Lines that arrived while paused. */
  pending: string[];
  paused: boolean;
  /** Lines dropped from the top to stay within MAX_LOG_LINES. */
  dropped: number;
}

export type LogAction =
  | { type: "chunk"; text: string }
  | { type: "end" }
  | { type: "pause" }
  | { type: "resume" }
  | { type: "clear" };

export const initialLogState: LogState = {
  lines: [],
  partial: "",
  pending: [],
  paused: false,
  dropped: 0,
};

function cap(lines: string[], dropped: number, max: number): [string[], number] {
  if (lines.length <= max) return [lines, dropped];
  const over = lines.length - max;
  return [lines.slice(over), dropped + over];
}

function append(state: LogState, newLines: string[], max: number): LogState {
  if (newLines.length === 0) return state;
  if (state.paused) {
    const [pending] = cap([...state.pending, ...newLines], 0, max);
    return { ...state, pending };
  }
  const [lines, dropped] = cap([...state.lines, ...newLines], state.dropped, max);
  return { ...state, lines, dropped };
}

export function logReducer(
  state: LogState,
  action: LogAction,
  max: number = MAX_LOG_LINES,
): LogState {
  switch (action.type) {
    case "chunk": {
      const parts = (state.partial + action.text).split(/\r?\n/);
      const partial = parts.pop() ?? "";
      return append({ ...state, partial }, parts, max);
    }
    case "end":
      // a last line without a trailing newline
      return state.partial ? append({ ...state, partial: "" }, [state.partial], max) : state;
    case "pause":
      return state.paused ? state : { ...state, paused: true };
    case "resume": {
      if (!state.paused) return state;
      const [lines, dropped] = cap([...state.lines, ...state.pending], state.dropped, max);
      return { ...state, paused: false, pending: [], lines, dropped };
    }
    case "clear":
      return { ...state, lines: [], pending: [], dropped: 0 };
  }
}

/** Splits `pod-name line` (the server prefixes each line with its pod) for display. */
export function splitPodPrefix(line: string): { pod: string | null; text: string } {
  const m = /^\[?([a-z0-9][a-z0-9.-]*[a-z0-9])\]?\s(.*)$/s.exec(line);
  if (m?.[1]?.includes("-") && m[2] !== undefined) return { pod: m[1], text: m[2] };
  return { pod: null, text: line };
}
