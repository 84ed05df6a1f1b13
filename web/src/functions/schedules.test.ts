import { describe, expect, it } from "vitest";
import {
  MAX_SCHEDULES,
  newScheduleRow,
  rowErrorKey,
  scheduleErrorKey,
  validateSchedules,
  type ScheduleRow,
} from "./schedules";
import type { FieldErrors } from "./validation";

function rows(...specs: Partial<ScheduleRow>[]): ScheduleRow[] {
  return specs.map((s) => ({ ...newScheduleRow(), ...s }));
}

function check(rs: ScheduleRow[]) {
  const errors: FieldErrors = {};
  const sent = validateSchedules(rs, errors);
  return { errors, sent };
}

describe("validateSchedules", () => {
  it("sends the filled rows, leaving out blank optional fields and empty rows", () => {
    const { errors, sent } = check(
      rows(
        { name: " nightly ", cron: " 0 3 * * * ", timeZone: "Europe/Paris", body: '{"a":1}' },
        {},
        { name: "often", cron: "*/30 * * * * *" },
        { name: "daily", cron: "@daily" },
        { name: "yearly", cron: "0 0 3 1 1 * 2030" },
      ),
    );
    expect(errors).toEqual({});
    expect(sent).toEqual([
      { name: "nightly", cron: "0 3 * * *", timeZone: "Europe/Paris", body: '{"a":1}' },
      { name: "often", cron: "*/30 * * * * *" },
      { name: "daily", cron: "@daily" },
      { name: "yearly", cron: "0 0 3 1 1 * 2030" },
    ]);
  });

  it("names each problem by its index among the rows sent, like the server", () => {
    const { errors } = check(
      rows(
        { name: "a", cron: "0 3 * * *" },
        {},
        { name: "Bad_Name", cron: "0 3 * *" },
        { name: "a", cron: "" },
        { name: "", cron: "* * * * *", timeZone: "Europe/ Paris" },
        { name: "big", cron: "0 3 * * *", body: "x".repeat(64 * 1024 + 1) },
      ),
    );
    expect(errors).toEqual({
      "schedules[1].name": expect.stringMatching(/lowercase letters, digits and '-'/),
      "schedules[1].cron": expect.stringMatching(/5 fields/),
      "schedules[2].name": 'Another schedule is called "a".',
      "schedules[2].cron": "Cron expression is required.",
      "schedules[3].name": "Name is required.",
      "schedules[3].timeZone": "Time zone must not contain spaces.",
      "schedules[4].body": "Body must be at most 64 KiB.",
    });
  });

  it("limits names to 40 characters and a function to 10 schedules", () => {
    const long = check(rows({ name: "a".repeat(41), cron: "0 3 * * *" }));
    expect(long.errors["schedules[0].name"]).toMatch(/at most 40/);
    const many = check(
      rows(
        ...Array.from({ length: MAX_SCHEDULES + 1 }, (_, i) => ({ name: `s${i}`, cron: "@daily" })),
      ),
    );
    expect(many.errors).toEqual({ schedules: "At most 10 schedules." });
  });
});

describe("scheduleErrorKey", () => {
  it("maps a server path to the row and input it names", () => {
    const rs = rows({ name: "a", cron: "x" }, {}, { name: "b", cron: "y" });
    const [first, , third] = rs;
    expect(scheduleErrorKey(rs, "schedules[0].cron")).toBe(rowErrorKey(first!.id, "cron"));
    // the blank row was not sent: index 1 is the third row
    expect(scheduleErrorKey(rs, "schedules[1].timeZone")).toBe(rowErrorKey(third!.id, "timeZone"));
    expect(scheduleErrorKey(rs, "schedules[1]")).toBe(rowErrorKey(third!.id, "name"));
    expect(scheduleErrorKey(rs, "schedules[1].unknown")).toBe(rowErrorKey(third!.id, "name"));
    expect(scheduleErrorKey(rs, "schedules")).toBe("schedules");
    expect(scheduleErrorKey(rs, "schedules[7].cron")).toBe("schedules");
    expect(scheduleErrorKey(rs, "image")).toBeNull();
  });
});
