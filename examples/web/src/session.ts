// Who is signed in. The token lives in sessionStorage: it survives a reload of
// this tab, dies with the tab, and is never shared with other tabs or sent as a
// cookie. docs/dashboard.md argues the choice.
import type { User } from "./types";

const KEY = "taskstream.session";

export interface Session {
  token: string;
  user: User;
}

let memory: Session | null = null;

function storage(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null; // storage disabled: keep the session in memory only
  }
}

export function loadSession(): Session | null {
  if (memory) return memory;
  const raw = storage()?.getItem(KEY);
  if (!raw) return null;
  try {
    const parsed = JSON.parse(raw) as Session;
    if (typeof parsed.token === "string" && parsed.user && typeof parsed.user.id === "string") {
      memory = parsed;
      return parsed;
    }
  } catch {
    /* a damaged entry is as good as none */
  }
  storage()?.removeItem(KEY);
  return null;
}

export function saveSession(session: Session): void {
  memory = session;
  storage()?.setItem(KEY, JSON.stringify(session));
}

export function clearSession(): void {
  memory = null;
  storage()?.removeItem(KEY);
}
