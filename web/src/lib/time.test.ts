import { describe, expect, it } from "vitest";
import { formatAge, formatDuration, formatUntil } from "./time";

describe("formatAge", () => {
  const now = Date.parse("2026-01-01T12:00:00Z");
  it.each([
    ["2026-01-01T11:59:30Z", "30s"],
    ["2026-01-01T11:55:00Z", "5m"],
    ["2026-01-01T09:00:00Z", "3h"],
    ["2025-12-29T12:00:00Z", "3d"],
    ["2026-01-01T12:00:05Z", "0s"],
    ["nonsense", "—"],
  ])("%s → %s", (iso, want) => {
    expect(formatAge(iso, now)).toBe(want);
  });
});

describe("formatUntil", () => {
  const now = Date.parse("2026-01-01T12:00:00Z");
  it.each([
    ["2026-01-01T12:00:30Z", "30s"],
    ["2026-01-01T15:00:00Z", "3h"],
    ["2026-01-04T12:00:00Z", "3d"],
    ["2026-01-01T11:00:00Z", "0s"],
    ["nonsense", "—"],
  ])("%s → %s", (iso, want) => {
    expect(formatUntil(iso, now)).toBe(want);
  });
});

describe("formatDuration", () => {
  it.each([
    [15, "15 ms"],
    [1180, "1.2 s"],
    [185_000, "3m"],
    [-1, "—"],
  ])("%s → %s", (ms, want) => {
    expect(formatDuration(ms)).toBe(want);
  });
});
