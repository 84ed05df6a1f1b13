import { describe, expect, it } from "vitest";
import type { Revision } from "../api/types";
import { sampleFunction } from "../test/utils";
import { changeKind, formatSpecValue, isFirstRevision, shortDigest } from "./revisions";

const rev = (revision: number): Revision => ({
  revision,
  spec: sampleFunction.spec,
  actor: "alice",
  createdAt: "2026-01-01T00:00:00Z",
  rollbackOf: null,
  current: false,
});

describe("formatSpecValue", () => {
  it("shows scalars as they are and objects as compact JSON", () => {
    expect(formatSpecValue("nginx:alpine")).toBe("nginx:alpine");
    expect(formatSpecValue("")).toBe('""');
    expect(formatSpecValue(3)).toBe("3");
    expect(formatSpecValue(false)).toBe("false");
    expect(formatSpecValue([{ name: "A", value: "1" }])).toBe('[{"name":"A","value":"1"}]');
    expect(formatSpecValue({ maxAttempts: 3 })).toBe('{"maxAttempts":3}');
  });

  it("has no text for a field that is not set", () => {
    expect(formatSpecValue(undefined)).toBeNull();
    expect(formatSpecValue(null)).toBeNull();
  });
});

describe("changeKind", () => {
  it("tells added, removed and changed fields apart", () => {
    expect(changeKind({ path: "retry", to: { maxAttempts: 3 } })).toBe("added");
    expect(changeKind({ path: "retry", from: { maxAttempts: 3 }, to: null })).toBe("removed");
    expect(changeKind({ path: "image", from: "a", to: "b" })).toBe("changed");
  });
});

describe("isFirstRevision", () => {
  it("is the oldest loaded one when there is nothing older to load", () => {
    const loaded = [rev(3), rev(2), rev(1)];
    expect(isFirstRevision(rev(1), loaded, false)).toBe(true);
    expect(isFirstRevision(rev(2), loaded, false)).toBe(false);
    expect(isFirstRevision(rev(1), loaded, true)).toBe(false);
  });
});

describe("shortDigest", () => {
  const hex = "0123456789abcdef".repeat(4);

  it("keeps the algorithm and the first 12 hex digits, as docker images does", () => {
    expect(shortDigest(`sha256:${hex}`)).toBe("sha256:0123456789ab");
    expect(shortDigest(`sha512:${hex}${hex}`)).toBe("sha512:0123456789ab");
  });

  it("has nothing to show when the digest is not known", () => {
    expect(shortDigest(null)).toBeNull();
    expect(shortDigest(undefined)).toBeNull();
    expect(shortDigest("")).toBeNull();
  });

  it("leaves anything else as it is", () => {
    expect(shortDigest("sha256:abc")).toBe("sha256:abc");
    expect(shortDigest("not a digest")).toBe("not a digest");
  });
});
