import { describe, expect, it } from "vitest";
import { resolveFormField, fieldId } from "./fieldIds";
import { displayErrors } from "./formErrors";
import { secretRefsInputId } from "./secretRefs";
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

describe("secret reference errors", () => {
  const values = {
    ...emptyForm(),
    secretEnv: [
      { id: "s1", name: "DB_USER", secret: "db", key: "user" },
      { id: "blank", name: "", secret: "", key: "" },
      { id: "s2", name: "DB_PASSWORD", secret: "db", key: "nope" },
    ],
    secretFiles: ["db", "tls"],
  };
  it("land on the input of the row the server names", () => {
    expect(
      displayErrors(values, {
        "secretEnv[1].key": 'secret "db" has no key "nope"',
        "secretEnv[0].name": "taken",
        "secretFiles[1]": 'no secret "tls"',
      }),
    ).toEqual({
      "s2.key": 'secret "db" has no key "nope"',
      "s1.name": "taken",
      "secretFile:tls": 'no secret "tls"',
    });
  });
  it("fall back to the list when no row matches", () => {
    expect(
      displayErrors(values, {
        "secretEnv[7].secret": "x",
        "secretFiles[5]": "y",
        secretFiles: "z",
      }),
    ).toEqual({ secretEnv: "x", secretFiles: "y" });
    expect(displayErrors(values, { secretEnv: "too many" })).toEqual({ secretEnv: "too many" });
  });
});

describe("secret reference inputs", () => {
  it("are found from their display keys", () => {
    expect(secretRefsInputId("senv-4.key")).toBe("senv-4-key");
    expect(secretRefsInputId("secretFile:db")).toBe("secret-file-db");
    expect(secretRefsInputId("secretEnv")).toBe("secret-env-add");
    expect(secretRefsInputId("env-1")).toBeNull();
    expect(secretRefsInputId("name")).toBeNull();
  });
});
