import { describe, expect, it } from "vitest";
import { clearSession, isExpired, loadSession, saveSession } from "./session";

describe("session storage", () => {
  it("round-trips a token response", () => {
    saveSession({
      token: "jwt",
      tenant: "alice",
      role: "tenant",
      expiresAt: "2030-01-01T00:00:00Z",
    });
    expect(loadSession()).toEqual({
      token: "jwt",
      tenant: "alice",
      role: "tenant",
      expiresAt: "2030-01-01T00:00:00Z",
    });
    clearSession();
    expect(loadSession()).toBeNull();
  });
  it("shows an admin token's role in place of a tenant", () => {
    expect(
      saveSession({ token: "jwt", role: "admin", expiresAt: "2030-01-01T00:00:00Z" }).tenant,
    ).toBe("admin");
  });
  it("ignores garbage", () => {
    sessionStorage.setItem("eventflow.session", "{not json");
    expect(loadSession()).toBeNull();
    sessionStorage.setItem("eventflow.session", JSON.stringify({ token: 1 }));
    expect(loadSession()).toBeNull();
  });
  it("knows when a session expired", () => {
    const s = { token: "t", tenant: "a", role: "tenant", expiresAt: "2026-01-01T00:00:00Z" };
    expect(isExpired(s, Date.parse("2025-12-31T23:59:59Z"))).toBe(false);
    expect(isExpired(s, Date.parse("2026-01-01T00:00:00Z"))).toBe(true);
  });
});
