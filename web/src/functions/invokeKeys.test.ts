import { describe, expect, it } from "vitest";
import type { InvokeKey } from "../api/types";
import { curlExample, expiresInSeconds, invokeKeyState, validateKeyName } from "./invokeKeys";

const key = (fields: Partial<InvokeKey>): InvokeKey => ({
  id: "k1",
  function: "hook",
  name: "github",
  prefix: "efi_AbCdEfGh",
  createdAt: "2026-01-01T00:00:00Z",
  expiresAt: null,
  revokedAt: null,
  lastUsedAt: null,
  active: true,
  ...fields,
});

describe("invoke keys", () => {
  it("maps the expiry choices to expiresInSeconds", () => {
    expect(expiresInSeconds("never")).toBeUndefined();
    expect(expiresInSeconds("1d")).toBe(86_400);
    expect(expiresInSeconds("30d")).toBe(2_592_000);
    // a year of 365 days: within the server's limit of 366
    expect(expiresInSeconds("1y")).toBe(31_536_000);
    expect(expiresInSeconds("unknown")).toBeUndefined();
  });

  it("checks the name as the server does", () => {
    expect(validateKeyName("github-webhook")).toBeNull();
    expect(validateKeyName("  ")).toMatch(/Give the key a name/);
    expect(validateKeyName("x".repeat(64))).toBeNull();
    expect(validateKeyName(` ${"x".repeat(64)} `)).toBeNull();
    expect(validateKeyName("x".repeat(65))).toBe("At most 64 characters.");
    // the server counts bytes of UTF-8
    expect(validateKeyName("é".repeat(33))).toBe("At most 64 characters.");
    expect(validateKeyName("a\tb")).toBe("No control characters.");
  });

  it("tells active, revoked and expired keys apart", () => {
    expect(invokeKeyState(key({}))).toBe("active");
    expect(invokeKeyState(key({ active: false, revokedAt: "2026-01-02T00:00:00Z" }))).toBe(
      "revoked",
    );
    expect(invokeKeyState(key({ active: false, expiresAt: "2026-01-02T00:00:00Z" }))).toBe(
      "expired",
    );
  });

  it("builds the example request", () => {
    expect(curlExample("https://ef.example.com", "hook", "efi_x")).toBe(
      'curl -X POST https://ef.example.com/v1/functions/hook/invoke -H "Authorization: Bearer efi_x"',
    );
  });
});
