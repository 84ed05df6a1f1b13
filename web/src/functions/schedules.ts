// The schedule editor's rows and their checks, mirroring eventflow-core's
// `parse_schedules` where that is cheap (names, counts, sizes, the shape of
// an expression). Whether an expression parses, fires often enough apart
// and names a known time zone is left to the server, whose 422 names the
// field (`schedules[1].cron`), shown on that row.
import type { Schedule, ScheduleRequest } from "../api/types";
import type { FieldErrors } from "./validation";

/** Most schedules one function may carry. */
export const MAX_SCHEDULES = 10;
export const SCHEDULE_NAME_MAX = 40;
export const CRON_MAX = 200;
/** Largest body a schedule sends, in bytes (UTF-8). */
export const SCHEDULE_BODY_MAX = 64 * 1024;

export interface ScheduleRow {
  id: string;
  name: string;
  cron: string;
  timeZone: string;
  body: string;
}

/** The inputs of a row, as the server names them in `schedules[i].<field>`. */
export const SCHEDULE_FIELDS = ["name", "cron", "timeZone", "body"] as const;
export type ScheduleField = (typeof SCHEDULE_FIELDS)[number];

let nextId = 0;
/** A row for the editor, empty or holding a schedule of the spec. */
export function newScheduleRow(s?: Schedule): ScheduleRow {
  nextId += 1;
  return {
    id: `schedule-${nextId}`,
    name: s?.name ?? "",
    cron: s?.cron ?? "",
    timeZone: s?.timeZone ?? "",
    body: s?.body ?? "",
  };
}

/** The key the editor shows an error of one input under: `<row id>.<field>`. */
export function rowErrorKey(rowId: string, field: ScheduleField): string {
  return `${rowId}.${field}`;
}

function isBlank(r: ScheduleRow): boolean {
  return r.name.trim() === "" && r.cron.trim() === "" && r.timeZone.trim() === "" && r.body === "";
}

/** The rows that are sent: every row but the ones left entirely empty. */
function filled(rows: ScheduleRow[]): ScheduleRow[] {
  return rows.filter((r) => !isBlank(r));
}

/**
 * Checks the rows (entirely empty ones are left out) and adds errors under
 * the server's paths, `schedules[i].<field>` with i counted among the rows
 * sent, or `schedules` for the list. Returns what to send.
 */
export function validateSchedules(rows: ScheduleRow[], errors: FieldErrors): ScheduleRequest[] {
  const sent = filled(rows);
  if (sent.length > MAX_SCHEDULES) errors.schedules = `At most ${MAX_SCHEDULES} schedules.`;
  const seen = new Set<string>();
  const out: ScheduleRequest[] = [];
  sent.forEach((r, i) => {
    const at = (f: ScheduleField) => `schedules[${i}].${f}`;
    const name = r.name.trim();
    if (name === "") errors[at("name")] = "Name is required.";
    else if (name.length > SCHEDULE_NAME_MAX)
      errors[at("name")] = `Name must be at most ${SCHEDULE_NAME_MAX} characters.`;
    else if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name))
      errors[at("name")] =
        "Name must consist of lowercase letters, digits and '-', and start and end with a letter or digit.";
    else if (seen.has(name)) errors[at("name")] = `Another schedule is called "${name}".`;
    seen.add(name);

    const cron = r.cron.trim();
    const fields = cron.split(/\s+/).length;
    if (cron === "") errors[at("cron")] = "Cron expression is required.";
    else if (cron.length > CRON_MAX)
      errors[at("cron")] = `Cron expression must be at most ${CRON_MAX} characters.`;
    else if (!cron.startsWith("@") && (fields < 5 || fields > 7))
      errors[at("cron")] =
        "A cron expression has 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first.";

    const timeZone = r.timeZone.trim();
    if (/\s/.test(timeZone)) errors[at("timeZone")] = "Time zone must not contain spaces.";

    if (new TextEncoder().encode(r.body).length > SCHEDULE_BODY_MAX)
      errors[at("body")] = `Body must be at most ${SCHEDULE_BODY_MAX / 1024} KiB.`;

    const s: ScheduleRequest = { name, cron };
    if (timeZone !== "") s.timeZone = timeZone;
    if (r.body !== "") s.body = r.body;
    out.push(s);
  });
  return out;
}

/**
 * Where the editor shows an error of the server's (or of validateSchedules):
 * `schedules[1].cron` → that row's cron input, `schedules[1]` → its name,
 * `schedules` → the list. Null for other paths, or an index no row has.
 */
export function scheduleErrorKey(rows: ScheduleRow[], path: string): string | null {
  if (path === "schedules") return "schedules";
  const m = /^schedules\[(\d+)\](?:\.([A-Za-z]+))?/.exec(path);
  if (!m) return null;
  const row = filled(rows)[Number(m[1])];
  if (!row) return "schedules";
  const field = (SCHEDULE_FIELDS as readonly string[]).includes(m[2] ?? "")
    ? (m[2] as ScheduleField)
    : "name";
  return rowErrorKey(row.id, field);
}
