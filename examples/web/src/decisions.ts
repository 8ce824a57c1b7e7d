// The admin's decisions that could not reach the server: one outbox (outbox.ts) per
// signed-in admin, kept in localStorage, so a reload, a closed tab or a later sign-in
// of the same admin in this browser still has them. The review flow of a scan page
// (review.ts) sends the decisions of its scan, each only after reading the task again.
import type { AppContext } from "./app";
import { Outbox } from "./outbox";
import type { Decision, Task } from "./types";

/** One decision waiting to be sent (its scan is the item's scope). */
export interface QueuedDecision {
  task_id: string;
  decision: Decision;
  reason: string | null;
  /** Decide even though another admin holds the task (CONTRACT.md §4.2). */
  override: boolean;
}

export type Decisions = Outbox<QueuedDecision, Task>;

let shared: { userId: string; outbox: Decisions } | null = null;

/**
 * The signed-in admin's outbox of decisions (one per user: another admin signed in
 * in this browser never sees, let alone sends, them).
 *
 * Args:
 *   ctx: The app, for the signed-in user.
 *
 * Returns:
 *   The outbox kept under `taskstream.decisions.<user id>`.
 */
export function decisions(ctx: AppContext): Decisions {
  const userId = ctx.session.user.id;
  if (shared?.userId !== userId) {
    shared?.outbox.dispose();
    shared = { userId, outbox: new Outbox<QueuedDecision, Task>(`taskstream.decisions.${userId}`) };
  }
  return shared.outbox;
}
