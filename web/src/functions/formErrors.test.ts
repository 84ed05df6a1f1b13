import { describe, expect, it } from "vitest";
import { resolveFormField, fieldId } from "./fieldIds";
import { displayErrors } from "./formErrors";
import { emptyForm } from "./validation";

describe("server field paths", () => {
  it("resolve to the input that edits them", () => {
    expect(resolveFormField("name")).toBe("name");
    expect(resolveFormField("resources.limits.cpu")).toBe("resources.limits.cpu");
    expect(resolveFormField("command[3]")).toBe("command");
    expect(resolveFormField("env[2].value")).toBe("env[2].name");
    expect(resolveFormField("spec.unknown")).toBeNull();
  });
  it("map env errors to the row the user sees", () => {
    const values = {
      ...emptyForm(),
      env: [
        { id: "a", name: "A", value: "1" },
        { id: "blank", name: "", value: "" },
        { id: "b", name: "A", value: "2" },
      ],
    };
    expect(
      displayErrors(values, { "env[1].name": "duplicate", autoscaling: "odd", image: "bad" }),
    ).toEqual({
      b: "duplicate",
      _form: "odd",
      image: "bad",
    });
  });
  it("make valid DOM ids", () => {
    expect(fieldId("resources.limits.cpu")).toBe("field-resources-limits-cpu");
  });
});
