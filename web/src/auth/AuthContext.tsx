import { useCallback, useEffect, useMemo, useState, type ReactNode } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { createApiClient } from "../api/client";
import type { TokenResponse } from "../api/types";
import { clearSession, isExpired, loadSession, saveSession, type Session } from "./session";
import { AuthContext, EXPIRED_NOTICE, type AuthState } from "./useAuth";

interface State {
  session: Session | null;
  notice: string | null;
  signedOutByUser: boolean;
}

function initialSession(): State {
  const s = loadSession();
  if (s && isExpired(s)) {
    clearSession();
    return { session: null, notice: EXPIRED_NOTICE, signedOutByUser: false };
  }
  return { session: s, notice: null, signedOutByUser: false };
}

/** Holds the current token outside React state so the API client always sends the latest. */
class TokenHolder {
  private current: string | null;
  private expired: () => void = () => {};
  constructor(token: string | null) {
    this.current = token;
  }
  token(): string | null {
    return this.current;
  }
  set(token: string | null): void {
    this.current = token;
  }
  onExpired(handler: () => void): void {
    this.expired = handler;
  }
  expire(): void {
    if (this.current) this.expired();
  }
}

export function AuthProvider({
  children,
  fetchImpl,
}: {
  children: ReactNode;
  fetchImpl?: typeof fetch;
}) {
  const [state, setState] = useState(initialSession);
  const [holder] = useState(() => new TokenHolder(state.session?.token ?? null));
  const queryClient = useQueryClient();

  const signOut = useCallback(
    (notice?: string) => {
      clearSession();
      holder.set(null);
      queryClient.clear();
      setState({ session: null, notice: notice ?? null, signedOutByUser: notice === undefined });
    },
    [queryClient, holder],
  );

  useEffect(() => {
    holder.onExpired(() => signOut(EXPIRED_NOTICE));
  }, [holder, signOut]);

  const [client] = useState(() =>
    createApiClient({
      getToken: () => holder.token(),
      onUnauthorized: () => holder.expire(),
      fetch: fetchImpl,
    }),
  );

  const signIn = useCallback(
    (t: TokenResponse) => {
      const session = saveSession(t);
      holder.set(session.token);
      queryClient.clear();
      setState({ session, notice: null, signedOutByUser: false });
    },
    [queryClient, holder],
  );

  const value = useMemo<AuthState>(
    () => ({ ...state, client, signIn, signOut }),
    [state, client, signIn, signOut],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}
