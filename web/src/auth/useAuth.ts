import { createContext, useContext } from "react";
import type { ApiClient } from "../api/client";
import type { TokenResponse } from "../api/types";
import type { Session } from "./session";

export interface AuthState {
  session: Session | null;
  /** Why the user was signed out, shown on the sign-in page. */
  notice: string | null;
  /** The user signed out on purpose: the next sign-in starts fresh, not where they left. */
  signedOutByUser: boolean;
  client: ApiClient;
  signIn: (token: TokenResponse) => void;
  signOut: (notice?: string) => void;
}

export const AuthContext = createContext<AuthState | null>(null);

export const EXPIRED_NOTICE = "Your session has expired. Please sign in again.";

export function useAuth(): AuthState {
  const ctx = useContext(AuthContext);
  if (!ctx) throw new Error("useAuth must be used inside <AuthProvider>");
  return ctx;
}

export function useApi(): ApiClient {
  return useAuth().client;
}
