import { describe, expect, it } from "vitest";
import { formatAge } from "./time";

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
