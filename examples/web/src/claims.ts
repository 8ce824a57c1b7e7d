// The live claims of one scan (CONTRACT.md §4.2) and the usernames the page has learnt.
import type { Claim, Presence } from "./types";

/** Usernames by user id, from presence, claims and histories (the contract's tasks carry ids). */
export class Directory {
  private readonly names = new Map<string, string>();

  /** Remember that `userId` is called `username`. */
  learn(userId: string, username: string): void {
    this.names.set(userId, username);
  }

  /** Learn every present user's name. */
  learnPresence(presence: Presence): void {
    for (const user of presence.present ?? []) this.learn(user.user_id, user.username);
  }

  /** The username of `userId`, or null when the page has not learnt it. */
  name(userId: string): string | null {
    return this.names.get(userId) ?? null;
  }
}

/**
 * Every live claim of a scan: from the join answer and `task:claimed` notices.
 * A claim past its `expires_at` is dropped even if the notice of its end was
 * missed (a dropped link), so a card never says "is reviewing" for ever.
 */
export class ClaimBook {
  private readonly claims = new Map<string, Claim>();
  private timer = 0;

  /**
   * Args: me, the signed-in admin's id; changed, called after every change;
   * directory, where the holders' names are recorded.
   */
  constructor(
    private readonly me: string,
    private readonly changed: () => void,
    private readonly directory: Directory,
  ) {}

  /** Replace every claim with `claims` (a snapshot join answer). */
  reset(claims: Claim[]): void {
    this.claims.clear();
    for (const claim of claims) this.put(claim);
    this.schedule();
    this.changed();
  }

  /** Apply a `task:claimed` notice (or a claim the page took or was told of). */
  set(taskId: string, claim: Claim | null): void {
    // An admin holds one claim per scan: a new claim of theirs ends the previous one.
    if (claim) {
      for (const [id, other] of this.claims) if (other.admin_id === claim.admin_id && id !== taskId) this.claims.delete(id);
      this.put(claim);
    } else {
      this.claims.delete(taskId);
    }
    this.schedule();
    this.changed();
  }

  /** The claim on `taskId` held by another admin, or null. */
  other(taskId: string): Claim | null {
    const claim = this.claims.get(taskId);
    if (!claim || claim.admin_id === this.me || Date.parse(claim.expires_at) <= Date.now()) return null;
    return claim;
  }

  /** The task the signed-in admin holds (as far as the page knows), or null. */
  mine(): string | null {
    for (const [id, claim] of this.claims) if (claim.admin_id === this.me) return id;
    return null;
  }

  /** Stop the expiry timer (the page is going away). */
  dispose(): void {
    window.clearTimeout(this.timer);
  }

  private put(claim: Claim): void {
    this.claims.set(claim.task_id, claim);
    this.directory.learn(claim.admin_id, claim.admin_username);
  }

  /** Wake up when the earliest claim expires, to drop it. */
  private schedule(): void {
    window.clearTimeout(this.timer);
    let earliest = Infinity;
    for (const claim of this.claims.values()) earliest = Math.min(earliest, Date.parse(claim.expires_at));
    if (earliest === Infinity) return;
    this.timer = window.setTimeout(() => {
      const now = Date.now();
      let dropped = false;
      for (const [id, claim] of this.claims) {
        if (Date.parse(claim.expires_at) <= now) {
          this.claims.delete(id);
          dropped = true;
        }
      }
      this.schedule();
      if (dropped) this.changed();
    }, Math.max(250, earliest - Date.now() + 250));
  }
}
