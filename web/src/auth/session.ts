import type { TokenResponse } from "../api/types";

/** What the dashboard keeps about the signed-in tenant, in sessionStorage. */
export interface Session {
  token: string;
  /** The tenant the token acts for; admin tokens have none and show as "admin". */
  tenant: string;
  role: string;
  expiresAt: string;
}

const KEY = "eventflow.session";

function isSession(v: unknown): v is Session {
  if (typeof v !== "object" || v === null) return false;
  const s = v as Record<string, unknown>;
  return (
    typeof s.token === "string" &&
    typeof s.tenant === "string" &&
    typeof s.role === "string" &&
    typeof s.expiresAt === "string"
  );
}

export function isExpired(session: Session, now: number = Date.now()): boolean {
  const at = Date.parse(session.expiresAt);
  return Number.isFinite(at) && at <= now;
}

export function loadSession(storage: Storage = sessionStorage): Session | null {
  try {
    const raw = storage.getItem(KEY);
    if (!raw) return null;
    const parsed: unknown = JSON.parse(raw);
    return isSession(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

export function saveSession(t: TokenResponse, storage: Storage = sessionStorage): Session {
  const session: Session = {
    token: t.token,
    tenant: t.tenant ?? t.role,
    role: t.role,
    expiresAt: t.expiresAt,
  };
  storage.setItem(KEY, JSON.stringify(session));
  return session;
}

export function clearSession(storage: Storage = sessionStorage): void {
  storage.removeItem(KEY);
}
