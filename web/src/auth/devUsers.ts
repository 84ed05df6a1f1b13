import type { TokenRequest } from "../api/types";

/** Shown when the server does not list its demo users. */
export const DEMO_USERS = ["alice", "bob", "charlie", "demo"] as const;
const USER_ID_MAX = 56;

export function validateUserId(id: string): string | null {
  if (id === "") return "Enter a user id.";
  if (id.length > USER_ID_MAX) return `User id must be at most ${USER_ID_MAX} characters.`;
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(id))
    return "User id must be lowercase letters, digits and '-', starting and ending with a letter or digit.";
  return null;
}

export function devTokenRequest(userId: string): TokenRequest {
  return { user_id: userId, username: userId, email: `${userId}@example.com` };
}
