// The review flow of the admin scan page (CONTRACT.md §4): each reviewer's current
// task, claims, deciding (with override), undo, and decisions that wait for the link.
//
// Each reviewer has a current task of their own: the focused card, claimed
// (`task:claim_next` after each decision, `task:claim` when the reviewer moves); a task
// whose decision waits in the outbox is never made the current one.
// Cards another admin holds say so, and deciding one asks first (then
// `override: true`). Decisions can be taken back for the undo window (Undo, Z).
// A decision that cannot reach the server waits in the admin's outbox
// (decisions.ts: kept in localStorage, so it survives a reload); once the link is
// back the task is read again and the decision sent only if the task is still
// pending, else dropped with a note on the card.
import "./review.css";
import { ApiError, call, NETWORK } from "./api";
import type { AppContext } from "./app";
import { ClaimBook, Directory } from "./claims";
import { confirmDialog } from "./confirm";
import { decisions, type Decisions, type QueuedDecision } from "./decisions";
import { randomKey } from "./dom";
import type { CardState, TaskGrid } from "./grid";
import { explain } from "./messages";
import type { Outcome, Pending } from "./outbox";
import { PresenceBar } from "./presence";
import type { Ack, Claim, Decision, Task, TaskHistory, WireError } from "./types";
import { UndoBar } from "./undo";

const HOLD_OWN_MS = 320; // a decided card shows its stamp this long before it leaves
const HOLD_CONFLICT_MS = 4500; // a card lost to another admin says who won, this long
const RENEW_CLAIM_MS = 20_000; // a claim lasts 30 s; the current task's is renewed this often
/** Error codes after which a queued decision is worth sending again later. */
const TRANSIENT = new Set([NETWORK, "timeout", "unavailable", "internal", "rate_limited", "unauthorized"]);

/** What a card shows besides its task: a decision in flight, a stamp, a loss, a wait. */
export interface CardExtra {
  state: CardState;
  note: string | null;
}

/** What the review flow needs of the page: its tasks, and how to change them. */
export interface ReviewPage {
  readonly tasks: ReadonlyMap<string, Task>;
  readonly pending: ReadonlyMap<string, Task>;
  /** Store a task as the server has it (an older copy never replaces a newer one). */
  upsert(task: Task): void;
  /** Something shown changed: render on the next frame. */
  changed(): void;
}

/** A decision and how it is sent (also what waits in the outbox). */
type Sending = QueuedDecision;

/** "Validated", or "Refused — <reason>": what a card says of a decision. */
function stamp(what: Sending): string {
  return `${what.decision === "validated" ? "Validated" : "Refused"}${what.reason ? ` — ${what.reason}` : ""}`;
}

export class ReviewFlow {
  readonly directory = new Directory();
  readonly claims: ClaimBook;
  readonly presence: PresenceBar;
  readonly undoBar: UndoBar;
  /** Card extras by task id; decided tasks stay on the grid while they have one. */
  readonly extras = new Map<string, CardExtra>();
  /**
   * This page's own decisions by task id: null while sent, then the seq of the decided
   * task as the server answered it. Their `task:*` events are no news; any other decision
   * is someone else's, this admin's in another tab included (a claim is the admin's, so
   * that tab may have been on this page's current card).
   */
  private readonly own = new Map<string, number | null>();
  /** This admin's decisions that wait for the server (of every scan; this page sends its scan's). */
  private readonly outbox: Decisions;
  private readonly offOutbox: () => void;
  private stopSending: () => void = () => undefined;
  private readonly onOnline = (): void => void this.outbox.flush();
  /** The page is going away (closed, reloaded, another address, or into the back/forward cache). */
  private readonly onPageHide = (): void => this.leave();
  /** The page came back from the back/forward cache: claim the current task again. */
  private readonly onPageShow = (event: PageTransitionEvent): void => {
    if (!event.persisted || this.disposed) return;
    const id = this.grid?.focused();
    if (id) void this.claim(id);
  };
  private readonly timers = new Set<number>();
  private readonly renewTimer: number;
  private readonly offState: () => void;
  private grid: TaskGrid | null = null;
  private started = false;
  private disposed = false;
  /** Bumped whenever the reviewer moves: a late claim_next answer then leaves the focus alone. */
  private moves = 0;
  /** Claim requests of this page in flight: `task:claim`, and each `advance()`'s `task:claim_next`s. */
  private asking = 0;
  /** A claim request was answered after the reviewer moved on from what it asked for. */
  private strayed = false;
  /**
   * A card the reviewer moved to while another admin held it (known then, or the claim's
   * answer said so): it keeps the focus until this admin claims it or moves.
   */
  private openedHeld: string | null = null;

  /** Args: ctx, the app; scanId, the scan reviewed; page, its tasks. */
  constructor(private readonly ctx: AppContext, private readonly scanId: string, private readonly page: ReviewPage) {
    const me = ctx.session.user;
    this.directory.learn(me.id, me.username);
    this.claims = new ClaimBook(me.id, () => page.changed(), this.directory);
    this.presence = new PresenceBar(me.id);
    this.undoBar = new UndoBar((id) => this.undo(id));
    this.outbox = decisions(ctx);
    this.offOutbox = this.outbox.onChange(() => this.showQueued());
    window.addEventListener("online", this.onOnline);
    // Leaving the page releases the claim at once (a hidden tab keeps it: the reviewer may come back).
    window.addEventListener("pagehide", this.onPageHide);
    window.addEventListener("pageshow", this.onPageShow);
    // Back online: send what waited (after reading each task again) and hold the current task again.
    this.offState = ctx.live.onState((state) => {
      if (state !== "online" || !this.started) return;
      void this.outbox.flush();
      const id = this.grid?.focused();
      if (id) void this.claim(id, "again");
    });
    this.renewTimer = window.setInterval(() => {
      const task = this.current();
      if (!task || task.status !== "pending" || this.extras.has(task.id)) return;
      // A card the reviewer opened while another admin held it stays theirs to look at.
      if (!this.claims.other(task.id) || this.openedHeld !== task.id) void this.claim(task.id, "again");
    }, RENEW_CLAIM_MS);
  }

  /** The grid the flow moves the focus on (made after the flow: its callbacks call it). */
  attach(grid: TaskGrid): void {
    this.grid = grid;
  }

  /** The reviewer's current task: the focused card (claimed by this admin when it could be). */
  current(): Task | null {
    const id = this.grid?.focused();
    return id ? this.page.tasks.get(id) ?? null : null;
  }

  /** The username of another admin holding `taskId`, or null. */
  claimedBy(taskId: string): string | null {
    return this.claims.other(taskId)?.admin_username ?? null;
  }

  /** Whether a decision of this page is in flight or still showing its stamp (cards hold their places). */
  inFlight(): boolean {
    for (const extra of this.extras.values()) if (extra.state === "validating" || extra.state === "refusing") return true;
    return false;
  }

  /**
   * A snapshot replaced the page's tasks: keep the extras of known tasks; the first one
   * starts the flow (and the sending of this scan's queued decisions).
   */
  snapshot(): void {
    for (const id of [...this.extras.keys()]) if (!this.page.tasks.has(id)) this.extras.delete(id);
    this.showQueued(); // with decisions left unsent by an earlier page (a reload, a closed tab)
    if (!this.started) {
      this.started = true;
      this.stopSending = this.outbox.start((item) => this.sendQueued(item), this.scanId);
      void this.advance(null, 0); // this reviewer's first current task
    }
  }

  /** A `task:*` event changed `task` (`was`: the copy before). */
  taskEvent(was: Task | undefined, task: Task): void {
    if (task.status === "pending" || this.decidedHere(task)) return;
    // The reviewer's current card was decided by someone else (or in another tab): it
    // stays, says who, and keeps the focus until it leaves, so a key pressed now acts on nothing.
    if (was?.status === "pending" && !this.extras.has(task.id) && this.grid?.focused() === task.id) {
      this.lostTo(task, "", HOLD_CONFLICT_MS);
    }
    this.undoBar.drop(task.id);
  }

  /** Whether `task`'s decision is this page's own (not one of this admin's other tabs). */
  private decidedHere(task: Task): boolean {
    if (task.decided_by !== this.ctx.session.user.id || !this.own.has(task.id)) return false;
    const seq = this.own.get(task.id);
    return seq === null || seq === task.seq;
  }

  // -- claims: each reviewer's current task --------------------------------------------------
  /** The reviewer moved to `id`: claim it. */
  moved(id: string): void {
    this.moves += 1;
    this.openedHeld = this.claims.other(id) ? id : null;
    void this.claim(id, "move");
  }

  /**
   * Claim `id`; another admin's claim is shown on the card. `why`: "move", the reviewer
   * moved to it; "again", the page claims the card the reviewer is on without the
   * reviewer acting (back online, the renewal): when another admin took it meanwhile
   * (`conflict`) and the reviewer is still on it, the focus moves on to the next task
   * nobody holds (`advance`), unless the reviewer opened it while it was held.
   */
  private async claim(id: string, why: "move" | "again" | null = null): Promise<void> {
    if (!this.ctx.live.socket.connected || !this.page.pending.has(id)) return;
    const token = this.moves;
    this.asking += 1;
    const ack = await this.ctx.live.claim(id);
    this.asking -= 1;
    if (this.disposed) return;
    const grid = this.grid;
    const here = grid?.focused() === id && token === this.moves;
    const taken = !ack.ok && ack.error.code === "conflict" && !!ack.error.claim;
    if (ack.ok) {
      this.claims.set(id, ack.claim);
      if (this.openedHeld === id) this.openedHeld = null;
    } else if (ack.error.claim) this.claims.set(id, ack.error.claim);
    if (taken && here && why === "move") this.openedHeld = id;
    if (taken && here && grid && why === "again" && this.openedHeld !== id && !this.extras.has(id)) {
      void this.advance(id, grid.indexOf(id)); // the next task nobody holds, claimed
      return;
    }
    this.answered(grid?.focused() !== id);
  }

  /**
   * A claim request was answered; `stale`: the reviewer had moved on from what it asked
   * for. The server runs several requests of one socket at once, so a stale request may
   * have run after the one for the card the reviewer is on, leaving this admin's claim on
   * another task (a late `task:claim_next` moves it to the task it hands out). Once no
   * claim request is in flight, the current card (`current`, else the focused one) is
   * claimed again: sent after every answer, the server runs it last.
   */
  private answered(stale: boolean, current = this.grid?.focused() ?? null): void {
    if (stale) this.strayed = true;
    if (this.asking > 0 || !this.strayed || this.disposed) return;
    this.strayed = false;
    if (current && !this.extras.has(current)) void this.claim(current);
  }

  /**
   * Move on from `after` (decided, or its card left; `index` its place in the queue):
   * the focus goes at once to the next card nobody else holds, and `task:claim_next`
   * makes the server's choice this reviewer's current task. When the reviewer moved
   * meanwhile, the answer leaves the focus alone and the card the reviewer is on is
   * claimed again (`answered`). A task with a decision waiting in this admin's outbox is
   * never the next one, whether the grid or the server picks it.
   */
  async advance(after: string | null, index: number): Promise<void> {
    const grid = this.grid;
    if (!grid) return;
    const token = ++this.moves;
    const queued = this.queuedTasks();
    const guess = grid.candidate(index, (id) => id === after || queued.has(id) || this.extras.has(id) || this.claims.other(id) !== null);
    if (guess) grid.focusTask(guess);
    if (!this.ctx.live.socket.connected) return;
    this.asking += 1;
    const next = await this.claimNext(after, token);
    this.asking -= 1;
    if (this.disposed) return;
    if (token !== this.moves) {
      this.answered(true);
      return;
    }
    if (next) {
      this.page.upsert(next.task);
      this.claims.set(next.task.id, next.claim);
      grid.focusTask(next.task.id);
    }
    this.answered(false, next?.task.id); // none handed out: the focused card
  }

  /** The tasks of this scan with a decision waiting in this admin's outbox. */
  private queuedTasks(): Set<string> {
    return new Set(this.outbox.list(this.scanId).map((item) => item.payload.task_id));
  }

  /**
   * Claim the next task after `after` (`task:claim_next`), from the oldest once past the
   * last, stepping over tasks with a queued decision: the server does not know of those
   * (they are pending there), so each one answered is asked past (`after_task_id`: the
   * server moves this admin's claim to the next one). `after` itself, answered from the
   * oldest before its decision is stored, is stepped over the same way. The server never
   * wraps around, so each pass ends; there are at most two (from `after`, then from the
   * oldest), and a pass stops should the server answer a task twice. When no other task
   * is left, or the reviewer moved meanwhile (`token` is stale), the claim on the last
   * task stepped over is released (in the second case `advance()` then claims the card
   * the reviewer is on again: either runs first, the claim ends there).
   *
   * Args:
   *   after: The task to look past (null: from the oldest).
   *   token: The move this call is for.
   *
   * Returns:
   *   The task now claimed and its claim, or null (none left, an error, or the reviewer
   *   moved).
   */
  private async claimNext(after: string | null, token: number): Promise<{ task: Task; claim: Claim } | null> {
    let from = after;
    let wrapped = after === null;
    let skipped: string | null = null;
    let found: { task: Task; claim: Claim } | null = null;
    const seen = new Set<string>(); // the tasks stepped over in this pass
    while (!this.disposed && token === this.moves) {
      const ack = await this.ctx.live.claimNext(this.scanId, from);
      if (!ack.ok) break;
      if (!ack.task || !ack.claim) {
        if (wrapped) break;
        wrapped = true; // past the last: from the oldest
        from = null;
        seen.clear();
        continue;
      }
      if (ack.task.id !== after && !this.queuedTasks().has(ack.task.id)) {
        found = { task: ack.task, claim: ack.claim };
        skipped = null; // that claim replaced the one on the task stepped over
        break;
      }
      this.page.upsert(ack.task);
      skipped = ack.task.id;
      if (seen.has(skipped)) break; // it did not move on: stop rather than ask again
      seen.add(skipped);
      from = skipped;
    }
    if (skipped && this.ctx.live.socket.connected) void this.ctx.live.release(skipped);
    return found;
  }

  /**
   * Before deciding `id`: when another admin holds it, ask. Returns whether to go on, and
   * whether the decision must carry `override`.
   */
  async ask(id: string, decision: Decision): Promise<{ go: boolean; override: boolean }> {
    const holder = this.claims.other(id);
    if (!holder) return { go: true, override: false };
    const ok = await this.askOverride(holder, decision);
    if (!ok || this.disposed) return { go: false, override: true };
    if (!this.page.pending.has(id)) {
      this.ctx.toast("That task was decided while you were asked: nothing was sent.", "info");
      return { go: false, override: true };
    }
    return { go: true, override: true };
  }

  private askOverride(holder: Claim, decision: Decision): Promise<boolean> {
    const verb = decision === "validated" ? "Validate" : "Refuse";
    return confirmDialog(
      `${holder.admin_username} is reviewing this task`,
      `${holder.admin_username} has it open right now. ${verb} it anyway? Their view updates at once.`,
      `${verb} anyway`,
      decision === "validated" ? "primary" : "danger",
    ).then((ok) => {
      this.grid?.focusGrid();
      return ok;
    });
  }

  // -- deciding ----------------------------------------------------------------------------------
  /** Decide `id` (asking first when another admin holds it, unless `override`). */
  async decide(id: string, decision: Decision, reason: string | null, override = false): Promise<void> {
    if (!this.page.pending.has(id) || this.extras.has(id)) return;
    if (!override) {
      const answer = await this.ask(id, decision);
      if (!answer.go) return;
      override = answer.override;
      if (this.extras.has(id)) return;
    }
    const verb = decision === "validated" ? "Validated" : "Refused";
    this.extras.set(id, { state: decision === "validated" ? "validating" : "refusing", note: decision === "validated" ? "Validating…" : "Refusing…" });
    this.page.changed();
    const grid = this.grid;
    if (grid && grid.focused() === id) void this.advance(id, grid.indexOf(id));
    const what: Sending = { task_id: id, decision, reason, override };
    this.own.set(id, null);
    const ack = await this.send(id, what);
    if (this.disposed) {
      // The page went away meanwhile: a decision that did not reach the server still waits.
      if (!ack.ok && TRANSIENT.has(ack.error.code)) this.outbox.add(this.scanId, randomKey(), what);
      return;
    }
    this.settle(id, what, verb, ack);
  }

  private async send(id: string, what: Sending): Promise<Ack<{ task: Task }>> {
    if (this.ctx.live.socket.connected) return this.ctx.live.decide(id, what.decision, what.reason, what.override);
    const body: Record<string, unknown> = { decision: what.decision };
    if (what.reason) body.reason = what.reason;
    if (what.override) body.override = true;
    return this.overHttp(`/api/tasks/${encodeURIComponent(id)}/decision`, body);
  }

  private async overHttp(path: string, body: unknown): Promise<Ack<{ task: Task }>> {
    try {
      const answer = await this.ctx.api<{ task: Task }>("POST", path, body);
      return { ok: true, task: answer.task };
    } catch (error) {
      const e: WireError = error instanceof ApiError
        ? { code: error.code, message: error.message, ...(error.task ? { task: error.task } : {}) }
        : { code: "internal", message: String(error) };
      return { ok: false, error: e };
    }
  }

  /** Apply the answer to a decision of this page. */
  private settle(id: string, what: Sending, verb: string, ack: Ack<{ task: Task }>): void {
    if (ack.ok) {
      this.own.set(id, ack.task.seq);
      this.page.upsert(ack.task);
      this.hold(id, what.decision === "validated" ? "validating" : "refusing", `${verb}${what.reason ? ` — ${what.reason}` : ""}`, HOLD_OWN_MS);
      this.undoBar.push(id, what.decision);
      return;
    }
    this.own.delete(id);
    if (ack.error.code === "already_decided" && ack.error.task) {
      this.page.upsert(ack.error.task);
      this.lostTo(ack.error.task, " first", HOLD_CONFLICT_MS);
      return;
    }
    this.extras.delete(id);
    this.page.changed();
    if (ack.error.code === "conflict" && ack.error.claim) {
      // Another admin took the task meanwhile: ask, as for a card shown as held.
      this.claims.set(id, ack.error.claim);
      void this.decide(id, what.decision, what.reason);
      return;
    }
    if (TRANSIENT.has(ack.error.code)) {
      // "Retry later" (no link, no answer in time, the store or Redis away, a sign-in to
      // renew...): it waits in the outbox (shown "not sent yet" by showQueued), which reads
      // the task again before sending: an ack that timed out may have been stored after all.
      const first = this.outbox.list(this.scanId).length === 0;
      this.outbox.add(this.scanId, randomKey(), what);
      if (ack.error.code === "unauthorized") this.ctx.expire(); // sent after the next sign-in
      else if (first) {
        const offline = ack.error.code === NETWORK || ack.error.code === "timeout";
        const why = offline ? "The server can't be reached" : "The server can't take decisions right now";
        this.ctx.toast(`${why}: your decision waits, and is sent once the task has been checked again.`, "info");
      }
      return;
    }
    this.ctx.toast(explain(ack.error, "decide"), "error");
  }

  /** Show this scan's queued decisions on their cards ("not sent yet"); cards whose decision
   * left the queue (sent or dropped, here or in another tab) lose the mark. */
  private showQueued(): void {
    if (this.disposed || !this.grid) return;
    const queued = new Set<string>();
    let changed = false;
    for (const item of this.outbox.list(this.scanId)) {
      const id = item.payload.task_id;
      queued.add(id);
      const extra = this.extras.get(id);
      if (extra && extra.state !== "queued") continue; // being sent now, or showing what came of it
      const note = `${stamp(item.payload)} — not sent yet: waiting for the server`;
      if (extra?.note !== note) {
        this.extras.set(id, { state: "queued", note });
        changed = true;
      }
    }
    for (const [id, extra] of this.extras) {
      if (extra.state === "queued" && !queued.has(id)) {
        this.extras.delete(id);
        changed = true;
      }
    }
    if (changed) this.page.changed();
  }

  /**
   * Send one queued decision of this scan (the outbox's sender): read the task again, and
   * send the decision only if the task is still pending.
   *
   * Args:
   *   item: The queued decision.
   *
   * Returns:
   *   Stored (also when an earlier attempt was, unanswered); retry later (the server can't
   *   be reached); or dropped, with a note on the card and a toast: the task was decided
   *   meanwhile, no longer exists, or another admin holds it (never retried: deciding it
   *   again asks first).
   */
  private async sendQueued(item: Pending<Sending>): Promise<Outcome<Task>> {
    const what = item.payload;
    const id = what.task_id;
    const verb = what.decision === "validated" ? "Validated" : "Refused";
    let task: Task;
    try {
      task = (await this.ctx.api<{ task: Task }>("GET", `/api/tasks/${encodeURIComponent(id)}`)).task;
    } catch (error) {
      const code = error instanceof ApiError ? error.code : "internal";
      const message = explain(error, "decide");
      if (TRANSIENT.has(code) || this.disposed) return { ok: false, retry: true, error: message };
      this.extras.delete(id);
      this.page.changed();
      this.ctx.toast(code === "not_found"
        ? "Not sent: that task no longer exists, so your decision was dropped."
        : `Not sent: ${message}`, "info");
      return { ok: false, drop: true, error: message };
    }
    if (this.disposed) return { ok: false, retry: true, error: "The page was closed." };
    this.page.upsert(task);
    if (task.status === what.decision && task.decided_by === this.ctx.session.user.id) {
      this.settle(id, what, verb, { ok: true, task }); // it did reach the server before the link dropped
      return { ok: true, result: task };
    }
    if (task.status !== "pending") return this.dropDecided(task);
    this.extras.set(id, { state: what.decision === "validated" ? "validating" : "refusing", note: what.decision === "validated" ? "Validating…" : "Refusing…" });
    this.page.changed();
    this.own.set(id, null);
    const ack = await this.send(id, what);
    if (!ack.ok) this.own.delete(id);
    if (ack.ok) {
      if (!this.disposed) this.settle(id, what, verb, ack);
      return { ok: true, result: ack.task };
    }
    const { code } = ack.error;
    const message = explain(ack.error, "decide");
    if (TRANSIENT.has(code) || this.disposed) {
      if (this.disposed) return { ok: false, retry: true, error: message };
      if (code === "unauthorized") this.ctx.expire(); // kept: sent after the next sign-in
      else this.extras.set(id, { state: "queued", note: `${stamp(what)} — not sent yet: waiting for the server` });
      this.page.changed();
      return { ok: false, retry: true, error: message };
    }
    if (code === "already_decided" && ack.error.task) {
      const now = ack.error.task;
      this.page.upsert(now);
      if (now.status === what.decision && now.decided_by === this.ctx.session.user.id) {
        this.settle(id, what, verb, { ok: true, task: now }); // another tab of this admin sent it first
        return { ok: true, result: now };
      }
      return this.dropDecided(now);
    }
    if (code === "conflict" && ack.error.claim) {
      // Another admin holds it: say so, and let this admin decide again (which asks first).
      const holder = ack.error.claim.admin_username;
      this.claims.set(id, ack.error.claim);
      this.hold(id, "conflict", `${stamp(what)} — not sent: ${holder} is reviewing it`, HOLD_CONFLICT_MS);
      this.ctx.toast(`Not sent: ${holder} is reviewing that task. Decide it again to ${what.decision === "validated" ? "validate" : "refuse"} it anyway.`, "info");
      return { ok: false, drop: true, error: message };
    }
    this.extras.delete(id);
    this.page.changed();
    this.ctx.toast(`Not sent: ${message}`, "error");
    return { ok: false, drop: true, error: message };
  }

  /** A queued decision's task was decided by someone else meanwhile: drop it, saying by whom. */
  private dropDecided(task: Task): Outcome<Task> {
    this.extras.delete(task.id);
    this.lostTo(task, " meanwhile", HOLD_CONFLICT_MS);
    this.ctx.toast(`Not sent: that task was ${task.status} meanwhile, so your decision was dropped.`, "info");
    return { ok: false, drop: true, error: `The task was ${task.status} meanwhile.` };
  }

  // -- what a card says ---------------------------------------------------------------------------
  /** Show `note` on the card of `id` for `ms`, then let it go (unless something replaced the entry). */
  private hold(id: string, state: CardState, note: string, ms: number): void {
    const entry: CardExtra = { state, note };
    this.extras.set(id, entry);
    this.page.changed();
    this.later(() => {
      if (this.extras.get(id) === entry) {
        this.extras.delete(id);
        this.page.changed();
      }
    }, ms);
  }

  /** Keep the card of `task` (decided by someone else) in place with who decided it. */
  private lostTo(task: Task, prefix: string, ms: number): void {
    const what = task.status === "validated" ? "Validated" : "Refused";
    const because = task.reason ? `: “${task.reason}”` : "";
    const text = (name: string) => `${what}${prefix} by ${name}${because}`;
    const first = text(this.who(task, (name) => {
      const now = this.extras.get(task.id);
      if (now && now.note === first) {
        now.note = text(name);
        this.page.changed();
      }
    }));
    this.hold(task.id, "conflict", first, ms);
  }

  /** Who decided `task`, by username; an unknown name is read from the task's history, then `then` runs. */
  private who(task: Task, then: (name: string) => void): string {
    if (task.decided_by === this.ctx.session.user.id) return "you (another tab)";
    const known = task.decided_by ? this.directory.name(task.decided_by) : null;
    if (known) return known;
    void this.ctx.api<TaskHistory>("GET", `/api/tasks/${encodeURIComponent(task.id)}/history`)
      .then((history) => {
        const last = [...history.entries].reverse().find((e) => e.action === "validated" || e.action === "refused");
        if (!last || this.disposed) return;
        this.directory.learn(last.by.user_id, last.by.username);
        then(last.by.username);
      })
      .catch(() => undefined);
    return "another admin";
  }

  // -- undo -----------------------------------------------------------------------------------
  /** Z: undo this admin's latest decision still in its window, or say there is none. */
  undoLast(): void {
    void this.undoBar.undoLast().then((done) => {
      if (!done && !this.disposed) this.ctx.toast("Nothing to undo: no decision of yours in the last few seconds.", "info");
    });
  }

  private async undo(id: string): Promise<boolean> {
    const ack = this.ctx.live.socket.connected
      ? await this.ctx.live.undo(id)
      : await this.overHttp(`/api/tasks/${encodeURIComponent(id)}/undo`, undefined);
    if (this.disposed) return false;
    if (!ack.ok) {
      this.ctx.toast(ack.error.code === "conflict"
        ? "Too late to undo: the undo window has passed, or the task changed since."
        : explain(ack.error, "decide"), "error");
      return false;
    }
    this.extras.delete(id);
    this.own.delete(id);
    this.page.upsert(ack.task);
    this.moves += 1;
    this.page.changed();
    this.grid?.focusTask(id); // an undone task is this reviewer's again (the server claims it for them)
    // A claim request answered before the undo may have run after it, moving the claim off
    // the undone task: it is claimed again once none is in flight.
    this.answered(true, id);
    this.ctx.toast("Undone: the task is pending again.", "info");
    return true;
  }

  private later(run: () => void, ms: number): void {
    const timer = window.setTimeout(() => {
      this.timers.delete(timer);
      run();
    }, ms);
    this.timers.add(timer);
  }

  /**
   * The page is going away for good or into the back/forward cache: release this admin's
   * claim over HTTP with `keepalive` (the request outlives the page; a socket emit may not
   * leave before the socket closes). The page then holds no claim: one restored from the
   * cache claims its current task again (`pageshow`).
   */
  private leave(): void {
    if (this.disposed) return;
    const ids = new Set<string>();
    const focused = this.grid?.focused();
    if (focused) ids.add(focused);
    const mine = this.claims.mine();
    if (mine) ids.add(mine);
    for (const id of ids) {
      void call("DELETE", `/api/tasks/${encodeURIComponent(id)}/claim`, { token: this.ctx.session.token, keepalive: true })
        .catch(() => undefined);
      if (id === mine) this.claims.set(id, null);
    }
  }

  /** The page is going away: release the current task, stop every timer. */
  dispose(): void {
    this.disposed = true;
    const id = this.grid?.focused();
    if (id && this.ctx.live.socket.connected) void this.ctx.live.release(id);
    this.offState();
    this.stopSending();
    this.offOutbox();
    window.removeEventListener("online", this.onOnline);
    window.removeEventListener("pagehide", this.onPageHide);
    window.removeEventListener("pageshow", this.onPageShow);
    window.clearInterval(this.renewTimer);
    for (const timer of this.timers) window.clearTimeout(timer);
    this.claims.dispose();
    this.undoBar.dispose();
  }
}
