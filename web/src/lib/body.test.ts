import { describe, expect, it } from "vitest";
import { headerValue, prettyBody } from "./body";

describe("prettyBody", () => {
  it("indents JSON by content type or by its look", () => {
    expect(prettyBody('{"a":1}', "application/json")).toBe('{\n  "a": 1\n}');
    expect(prettyBody("[1]", "text/plain")).toBe("[\n  1\n]");
  });

  it("leaves anything else as it is", () => {
    expect(prettyBody("{not json", "application/json")).toBe("{not json");
    expect(prettyBody("hello", "text/plain")).toBe("hello");
  });
});

describe("headerValue", () => {
  it("finds a header in any case", () => {
    expect(headerValue([["Content-Type", "text/plain"]], "content-type")).toBe("text/plain");
    expect(headerValue([], "content-type")).toBeUndefined();
  });
});
