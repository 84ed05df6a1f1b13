import type { Quota, QuotaItem } from "../api/types";

export interface QuotaRow {
  key: keyof Quota;
  label: string;
  item: QuotaItem;
  percent: number;
  level: "ok" | "warn" | "full";
}

const ROWS: [keyof Quota, string][] = [
  ["functions", "Functions"],
  ["pods", "Pods"],
  ["requestsCpu", "CPU requests"],
  ["limitsCpu", "CPU limits"],
  ["requestsMemory", "Memory requests"],
  ["limitsMemory", "Memory limits"],
];

/** The quota items the server reported, in display order, with a clamped percentage. */
export function quotaRows(quota: Partial<Quota>): QuotaRow[] {
  const rows: QuotaRow[] = [];
  for (const [key, label] of ROWS) {
    const item = quota[key];
    if (!item) continue;
    const ratio = Number.isFinite(item.ratio) ? item.ratio : 0;
    const percent = Math.round(Math.min(1, Math.max(0, ratio)) * 100);
    const level = ratio >= 1 ? "full" : ratio >= 0.8 ? "warn" : "ok";
    rows.push({ key, label, item, percent, level });
  }
  return rows;
}
