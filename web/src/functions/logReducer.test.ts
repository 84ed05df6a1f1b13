import { describe, expect, it } from "vitest";
import {
  initialLogState,
  logReducer,
  splitPodPrefix,
  type LogAction,
  type LogState,
} from "./logReducer";

const run = (actions: LogAction[], max?: number, start: LogState = initialLogState) =>
  actions.reduce((s, a) => logReducer(s, a, max), start);

describe("logReducer", () => {
  it("splits chunks into lines across chunk boundaries", () => {
    const s = run([
      { type: "chunk", text: "fn-a-1 hel" },
      { type: "chunk", text: "lo\nfn-a-1 wor" },
      { type: "chunk", text: "ld\r\n" },
    ]);
    expect(s.lines).toEqual(["fn-a-1 hello", "fn-a-1 world"]);
    expect(s.partial).toBe("");
  });

  it("flushes a last line without newline when the stream ends", () => {
    const s = run([{ type: "chunk", text: "a\nb" }, { type: "end" }]);
    expect(s.lines).toEqual(["a", "b"]);
  });

  it("holds lines back while paused and shows them on resume", () => {
    let s = run([
      { type: "chunk", text: "1\n" },
      { type: "pause" },
      { type: "chunk", text: "2\n3\n" },
    ]);
    expect(s.lines).toEqual(["1"]);
    expect(s.pending).toEqual(["2", "3"]);
    s = logReducer(s, { type: "resume" });
    expect(s.lines).toEqual(["1", "2", "3"]);
    expect(s.pending).toEqual([]);
    expect(s.paused).toBe(false);
  });

  it("keeps at most max lines and counts the dropped ones", () => {
    const s = run([{ type: "chunk", text: "1\n2\n3\n4\n5\n" }], 3);
    expect(s.lines).toEqual(["3", "4", "5"]);
    expect(s.dropped).toBe(2);
  });

  it("clear empties the view but keeps a partial line", () => {
    const s = run([
      { type: "chunk", text: "1\n2" },
      { type: "clear" },
      { type: "chunk", text: "x\n" },
    ]);
    expect(s.lines).toEqual(["2x"]);
  });

  it("pause and resume are idempotent", () => {
    const s = run([{ type: "resume" }, { type: "pause" }, { type: "pause" }]);
    expect(s.paused).toBe(true);
  });
});

describe("splitPodPrefix", () => {
  it("separates the pod name", () => {
    expect(splitPodPrefix("fn-hello-7d9c-abcde GET / 200")).toEqual({
      pod: "fn-hello-7d9c-abcde",
      text: "GET / 200",
    });
    expect(splitPodPrefix("[fn-hello-7d9c-abcde] started")).toEqual({
      pod: "fn-hello-7d9c-abcde",
      text: "started",
    });
  });
  it("leaves other lines alone", () => {
    expect(splitPodPrefix("plain message")).toEqual({ pod: null, text: "plain message" });
  });
});
