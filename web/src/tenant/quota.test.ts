import { describe, expect, it } from "vitest";
import { quotaRows } from "./quota";

describe("quotaRows", () => {
  it("orders rows, clamps percentages and grades levels", () => {
    const rows = quotaRows({
      requestsCpu: { used: "300m", hard: "10", ratio: 0.03 },
      pods: { used: "45", hard: "50", ratio: 0.9 },
      functions: { used: "60", hard: "50", ratio: 1.2 },
    });
    expect(rows.map((r) => [r.key, r.percent, r.level])).toEqual([
      ["functions", 100, "full"],
      ["pods", 90, "warn"],
      ["requestsCpu", 3, "ok"],
    ]);
  });
  it("copes with an empty quota", () => {
    expect(quotaRows({})).toEqual([]);
  });
});
