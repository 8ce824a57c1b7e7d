// The worker's submissions on their way to the server: one outbox (outbox.ts) per
// signed-in worker, kept in localStorage, sent over the socket or HTTP with the
// submission's idempotency key, and flushed while a worker page is open.
import { ApiError, NETWORK } from "./api";
import type { AppContext } from "./app";
import { explain } from "./messages";
import { Outbox, type Outcome, type Pending, type Sender } from "./outbox";
import type { Ack, Task, WireError } from "./types";

/** Error codes after which a submission is worth sending again later. */
const TRANSIENT = new Set([NETWORK, "timeout", "unavailable", "internal", "rate_limited", "unauthorized"]);

/** What is queued: the task content (its scan is the item's scope, its key the idempotency key). */
export interface Submission {
  content: string;
}

export type Submissions = Outbox<Submission, Task>;

let shared: { userId: string; outbox: Submissions } | null = null;

/** The signed-in worker's outbox of submissions (one per user, kept in localStorage). */
function submissions(ctx: AppContext): Submissions {
  const userId = ctx.session.user.id;
  if (shared?.userId !== userId) {
    shared?.outbox.dispose();
    shared = { userId, outbox: new Outbox<Submission, Task>(`taskstream.outbox.${userId}`) };
  }
  return shared.outbox;
}

/** Send one queued submission: over the socket when connected, else (or on a timeout) over HTTP. */
function submitter(ctx: AppContext): Sender<Submission, Task> {
  return async (item: Pending<Submission>): Promise<Outcome<Task>> => {
    let ack: Ack<{ task: Task }> = { ok: false, error: { code: "timeout", message: "offline" } };
    if (ctx.live.socket.connected) ack = await ctx.live.submit(item.scope, item.payload.content, item.key);
    if (!ack.ok && ack.error.code === "timeout") {
      // The idempotency key makes a resend safe: the server answers with the task it kept.
      try {
        const answer = await ctx.api<{ task: Task }>("POST", `/api/scans/${encodeURIComponent(item.scope)}/tasks`, {
          content: item.payload.content,
          idempotency_key: item.key,
        });
        ack = { ok: true, task: answer.task };
      } catch (error) {
        const e: WireError = error instanceof ApiError ? { code: error.code, message: error.message } : { code: "internal", message: String(error) };
        ack = { ok: false, error: e };
      }
    }
    if (ack.ok) return { ok: true, result: ack.task };
    if (ack.error.code === "unauthorized") ctx.expire(); // kept: sent after the next sign-in
    return { ok: false, retry: TRANSIENT.has(ack.error.code), error: explain(ack.error, "submit") };
  };
}

/** Flush the outbox while a worker page is open: now, on every reconnect, and on the browser's `online`. */
export function keepSending(ctx: AppContext): { outbox: Submissions; stop(): void } {
  const outbox = submissions(ctx);
  const stop = outbox.start(submitter(ctx));
  const off = ctx.live.onState((state) => {
    if (state === "online") void outbox.flush();
  });
  const online = (): void => void outbox.flush();
  window.addEventListener("online", online);
  return {
    outbox,
    stop: () => {
      stop();
      off();
      window.removeEventListener("online", online);
    },
  };
}
