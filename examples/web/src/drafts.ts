// What a user was typing, kept in sessionStorage (this tab only, as the session is) so an
// ended session does not lose it: the worker's submission (its text and kind, per scan) and
// the admin's refusal reason (per task). Restored when the same user signs in again in this
// tab; cleared once sent.

function storage(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null; // storage disabled: no draft survives the page
  }
}

/** The draft kept under `key`, or null. */
export function loadDraft<T>(key: string): T | null {
  const raw = storage()?.getItem(`taskstream.draft.${key}`);
  if (!raw) return null;
  try {
    return JSON.parse(raw) as T;
  } catch {
    return null; // a damaged entry is as good as none
  }
}

/** Keep `value` under `key` (null forgets it). */
export function saveDraft(key: string, value: unknown): void {
  try {
    if (value === null) storage()?.removeItem(`taskstream.draft.${key}`);
    else storage()?.setItem(`taskstream.draft.${key}`, JSON.stringify(value));
  } catch {
    /* quota or disabled storage: the draft lives in the box only */
  }
}
