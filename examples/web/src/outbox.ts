// A keyed queue of operations that must reach the server, kept until they have.
//
// Each operation carries a key that makes sending it twice safe (the contract's
// `idempotency_key`), so the queue may resend whenever it is unsure: after a
// timeout, after a reconnect, after a reload. Items live in localStorage (memory
// when storage is disabled), so closing or reloading the tab loses nothing; tabs
// of one origin share a queue through the `storage` event. A tab may see another's
// write late and write over it, so an item leaves the queue only by a tombstone (its
// key, marked sent or discarded, kept a day under a key of its own), never because a
// write left it out: a tab keeps what it holds and writes it back. Sending an item
// twice is safe; losing one is not.
//
// The queue itself knows nothing of the wire: a page starts it with a sender
// (`start`, optionally for the items of one scope only) and asks it to flush when
// the connection comes back (`flush`). Items are sent one at a time, oldest first;
// a failure worth retrying stops the round and schedules the next one with
// back-off, a final failure parks the item as `failed` until someone retries or
// discards it, and an operation that no longer applies (`drop`) leaves the queue.
//
// Users: the worker's submissions (submissions.ts) and the admin's decisions
// (decisions.ts), each in a queue of its own per user.

/** Where an item stands. `waiting`: not sent yet, will be; `failed`: the server refused it. */
export type PendingState = "waiting" | "sending" | "failed";

export interface Pending<P> {
  /** The operation's idempotency key, also its identity in the queue. */
  key: string;
  /** What the item belongs to (a scan id), for the pages that show it. */
  scope: string;
  payload: P;
  /** When it was queued (ISO 8601). */
  queued_at: string;
  state: PendingState;
  /** Send attempts so far. */
  attempts: number;
  /** True once an attempt failed in a way worth retrying (the user was told "not sent"). */
  delayed: boolean;
  /** Why the server refused it, when `failed`. */
  error: string | null;
}

/**
 * What one attempt came to: stored (with the server's answer); retry later (`retry`) or
 * refused for good (parked as `failed`); or moot (`drop`: what it would do no longer
 * applies, and the item leaves the queue unsent).
 */
export type Outcome<R> =
  | { ok: true; result: R }
  | { ok: false; retry: boolean; error: string }
  | { ok: false; drop: true; error: string };

export type Sender<P, R> = (item: Pending<P>) => Promise<Outcome<R>>;

const FIRST_RETRY_MS = 2_000;
const MAX_RETRY_MS = 30_000;
/** Tombstones kept: the newest this many, none older than a day. */
const TOMBSTONES_KEPT = 500;
const TOMBSTONE_MS = 24 * 3_600_000;

/** What storage holds under a queue's key. */
interface Stored<P> {
  items: Map<string, Pending<P>>;
  /** Keys sent or discarded (by any tab), with when (ms since the epoch). */
  gone: Map<string, number>;
}

function browserStorage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

export class Outbox<P, R> {
  private readonly items = new Map<string, Pending<P>>();
  /** Keys sent or discarded, here or in another tab (with when): never written back, never
   * loaded again; kept in storage as tombstones. */
  private readonly gone = new Map<string, number>();
  private readonly changeListeners = new Set<() => void>();
  private readonly sentListeners = new Set<(item: Pending<P>, result: R) => void>();
  private sender: Sender<P, R> | null = null;
  /** The scope the sender sends (every item when undefined). */
  private sendScope: string | undefined = undefined;
  private flushing = false;
  private again = false;
  private retryTimer = 0;
  private retryDelay = FIRST_RETRY_MS;
  private readonly storage = browserStorage();
  /** Where the tombstones are kept. */
  private readonly goneKey: string;
  private readonly onStorage = (event: StorageEvent): void => {
    if (event.key !== this.storageKey && event.key !== this.goneKey) return;
    this.load();
    this.emitChange();
    // What another tab queued goes now, unless this tab is sending (its round takes what is
    // waiting) or backing off after a failure (its retry timer sends). Each attempt writes
    // storage: a flush asked for by every write made two offline tabs retry each other's
    // failures back to back, hundreds of times in a few seconds.
    if (this.waiting().length && !this.flushing && !this.retryTimer) void this.flush();
  };

  /**
   * Args:
   *   storageKey: The localStorage key the queue is kept under (one queue per key); its
   *     tombstones are kept under `taskstream.gone.<storageKey>`.
   */
  constructor(private readonly storageKey: string) {
    this.goneKey = `taskstream.gone.${storageKey}`;
    this.load();
    window.addEventListener("storage", this.onStorage);
  }

  /** Stop listening to other tabs (the queue keeps its items in storage). */
  dispose(): void {
    window.removeEventListener("storage", this.onStorage);
    this.sender = null;
    window.clearTimeout(this.retryTimer);
  }

  /** The items of `scope` (every item without it), oldest first. */
  list(scope?: string): Pending<P>[] {
    const all = [...this.items.values()].sort((a, b) => a.queued_at.localeCompare(b.queued_at));
    return scope === undefined ? all : all.filter((item) => item.scope === scope);
  }

  /** Queue an operation and try to send it now. Returns the queued item. */
  add(scope: string, key: string, payload: P): Pending<P> {
    const item: Pending<P> = {
      key, scope, payload, queued_at: new Date().toISOString(), state: "waiting", attempts: 0, delayed: false, error: null,
    };
    this.items.set(key, item);
    this.save();
    this.emitChange();
    void this.flush();
    return item;
  }

  /** Send a `failed` item again (and everything else waiting). */
  retry(key: string): void {
    const item = this.items.get(key);
    if (!item || item.state !== "failed") return;
    item.state = "waiting";
    item.error = null;
    this.save();
    this.emitChange();
    void this.flush();
  }

  /** Drop an item that is not being sent right now. */
  discard(key: string): void {
    const item = this.items.get(key);
    if (!item || item.state === "sending") return;
    this.items.delete(key);
    this.gone.set(key, Date.now());
    this.save();
    this.emitChange();
  }

  /** Call `listener` after every change of the items. Returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Call `listener` with each item the server stored, and its answer. Returns the unsubscribe function. */
  onSent(listener: (item: Pending<P>, result: R) => void): () => void {
    this.sentListeners.add(listener);
    return () => this.sentListeners.delete(listener);
  }

  /**
   * Send through `sender` from now on: flush at once, then on every `flush()` and retry.
   *
   * Args:
   *   sender: Sends one item and says what came of it.
   *   scope: Send only the items of this scope (the others wait for a sender of theirs);
   *     every item when omitted.
   *
   * Returns:
   *   The function that stops sending (nothing is sent without a sender).
   */
  start(sender: Sender<P, R>, scope?: string): () => void {
    this.sender = sender;
    this.sendScope = scope;
    this.retryDelay = FIRST_RETRY_MS;
    void this.flush();
    return () => {
      if (this.sender !== sender) return;
      this.sender = null;
      window.clearTimeout(this.retryTimer);
      this.retryTimer = 0;
    };
  }

  /** Send every waiting item (of the sender's scope), oldest first (a no-op without a sender;
   * coalesced while one runs). */
  async flush(): Promise<void> {
    if (!this.sender) return;
    if (this.flushing) {
      this.again = true;
      return;
    }
    window.clearTimeout(this.retryTimer);
    this.retryTimer = 0;
    this.flushing = true;
    try {
      do {
        this.again = false;
        const finished = await this.round();
        // A flush asked for during a failed round (the link came back meanwhile) goes now.
        if (!finished && this.again) {
          window.clearTimeout(this.retryTimer);
          this.retryTimer = 0;
        }
      } while (this.again);
    } finally {
      this.flushing = false;
    }
  }

  /** One pass over the waiting items; false when it stopped on a failure worth retrying. */
  private async round(): Promise<boolean> {
    for (const item of this.waiting()) {
      const sender = this.sender;
      if (!sender) return false;
      if (this.sendScope !== undefined && item.scope !== this.sendScope) continue; // the sender changed meanwhile
      if (this.items.get(item.key) !== item || item.state !== "waiting") continue; // sent, dropped or reloaded meanwhile
      item.state = "sending";
      item.attempts += 1;
      this.save();
      this.emitChange();
      let outcome: Outcome<R>;
      try {
        outcome = await sender(item);
      } catch (error) {
        outcome = { ok: false, retry: true, error: String(error) };
      }
      if (this.items.get(item.key) !== item) continue; // discarded meanwhile
      if (outcome.ok) {
        this.items.delete(item.key);
        this.gone.set(item.key, Date.now());
        this.retryDelay = FIRST_RETRY_MS;
        this.save();
        for (const listener of this.sentListeners) listener(item, outcome.result);
        this.emitChange();
      } else if ("drop" in outcome) {
        this.items.delete(item.key);
        this.gone.set(item.key, Date.now());
        this.save();
        this.emitChange();
      } else if (outcome.retry) {
        item.state = "waiting";
        // The round stops here: the items behind this one are not sent either (each says so,
        // and once sent, that it went late).
        for (const other of this.waiting()) other.delayed = true;
        this.save();
        this.emitChange();
        this.scheduleRetry();
        return false;
      } else {
        item.state = "failed";
        item.error = outcome.error;
        this.save();
        this.emitChange();
      }
    }
    return true;
  }

  private scheduleRetry(): void {
    window.clearTimeout(this.retryTimer);
    this.retryTimer = window.setTimeout(() => void this.flush(), this.retryDelay);
    this.retryDelay = Math.min(this.retryDelay * 2, MAX_RETRY_MS);
  }

  /** The items the sender would send now: waiting, of its scope. */
  private waiting(): Pending<P>[] {
    return this.list(this.sendScope).filter((item) => item.state === "waiting");
  }

  /** What storage holds now (nothing when nothing, or nothing readable, is there). */
  private stored(): Stored<P> {
    const found: Stored<P> = { items: new Map(), gone: new Map() };
    for (const item of this.read<Pending<P>[]>(this.storageKey, "items") ?? []) {
      if (typeof item?.key === "string" && typeof item.scope === "string") found.items.set(item.key, item);
    }
    for (const entry of this.read<[string, number][]>(this.goneKey, "gone") ?? []) {
      if (Array.isArray(entry) && typeof entry[0] === "string" && typeof entry[1] === "number") found.gone.set(entry[0], entry[1]);
    }
    return found;
  }

  /** The array kept as `field` of the JSON object under `key`, or null. */
  private read<T>(key: string, field: string): T | null {
    try {
      const parsed: unknown = JSON.parse(this.storage?.getItem(key) ?? "null");
      const value = parsed && typeof parsed === "object" ? (parsed as Record<string, unknown>)[field] : null;
      return Array.isArray(value) ? (value as T) : null;
    } catch {
      return null; // a damaged entry is as good as none
    }
  }

  /** Take in what storage holds; write back what it lacks of ours (another tab wrote over it). */
  private load(): void {
    const held = [...this.items.values()];
    const stored = this.stored();
    for (const [key, at] of stored.gone) this.gone.set(key, Math.max(at, this.gone.get(key) ?? 0));
    this.items.clear();
    for (const [key, item] of stored.items) {
      if (this.gone.has(key)) continue;
      // One left "sending" by a closed tab (or sending in another tab) waits here.
      this.items.set(key, { ...item, state: item.state === "failed" ? "failed" : "waiting" });
    }
    let lacking = false;
    for (const item of held) {
      // A send in flight here stays so, even when another tab has sent the item meanwhile.
      if (item.state === "sending") this.items.set(item.key, item);
      else if (!this.items.has(item.key) && !this.gone.has(item.key)) {
        this.items.set(item.key, item); // left out by a write that had not seen it
        lacking = true;
      }
    }
    if (lacking) this.save();
  }

  /** Write this tab's items over what storage holds: items other tabs added are kept, items
   * sent or discarded (here or elsewhere) are removed and remembered as tombstones. */
  private save(): void {
    if (!this.storage) return;
    try {
      const { items: merged, gone } = this.stored();
      for (const [key, at] of this.gone) gone.set(key, Math.max(at, gone.get(key) ?? 0));
      for (const [key, item] of this.items) merged.set(key, item);
      for (const key of gone.keys()) merged.delete(key);
      const since = Date.now() - TOMBSTONE_MS;
      const tombstones = [...gone].filter(([, at]) => at > since).sort((a, b) => b[1] - a[1]).slice(0, TOMBSTONES_KEPT);
      // Tombstones first: a tab that reads the items after this sees why some are gone.
      if (tombstones.length) this.storage.setItem(this.goneKey, JSON.stringify({ gone: tombstones }));
      else this.storage.removeItem(this.goneKey);
      if (merged.size) this.storage.setItem(this.storageKey, JSON.stringify({ items: [...merged.values()] }));
      else this.storage.removeItem(this.storageKey);
    } catch {
      /* quota or disabled storage: the queue still works in memory for this tab */
    }
  }

  private emitChange(): void {
    for (const listener of this.changeListeners) listener();
  }
}
