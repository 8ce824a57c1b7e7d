// One Socket.IO connection per signed-in tab, and the per-scan subscriptions on it.
//
// Ordering rules (CONTRACT.md §3 and docs/dashboard.md):
// - a scan's live events may reach the socket before the ack of the join that
//   subscribed to it: while a join is in flight its events are buffered; the ack
//   is applied first, then the buffer, skipping every event whose seq is not
//   above the last seq applied for that scan;
// - on reconnect each scan is joined again with since_seq = last applied seq,
//   and the ack's events are applied the same way; a `reset` ack is a snapshot;
// - notices (`task:claimed`, `scan:presence`, CONTRACT.md §4) have no seq: they say
//   what is true now and are applied as they come, or, while a join is in flight,
//   right after its answer (whose `claims` and `presence` they may be newer than);
// - a refused token (connect_error data {code: "unauthorized"}) signs out.
import { io, type Socket } from "socket.io-client";
import { mark, noteEvent } from "./diag";
import type {
  Ack, Claim, ClaimedEnvelope, Decision, Envelope, JoinAck, Presence, PresenceEnvelope, Scan, Stats,
  StatsEnvelope, Task, WireError,
} from "./types";

export type ConnectionState = "connecting" | "online" | "reconnecting" | "offline";

export interface ScanHandlers {
  /** A full picture: first join, or a `reset` on resume. */
  snapshot(scan: Scan, tasks: Task[], reset: boolean): void;
  /** One stored event, in seq order, never twice. */
  event(event: Envelope): void;
  /** The scan object as the latest join ack has it. */
  scan?(scan: Scan): void;
  stats?(stats: Stats): void;
  /** Who is present: from every join answer and each `scan:presence` notice. */
  presence?(presence: Presence): void;
  /** Every live claim, from an admin's snapshot join answer. */
  claims?(claims: Claim[]): void;
  /** A `task:claimed` notice: the task's claim now, null when it ended. */
  claimed?(taskId: string, claim: Claim | null): void;
  /** The join was refused (not_found, forbidden...). */
  failed?(error: WireError): void;
}

interface Subscription {
  scanId: string;
  handlers: ScanHandlers;
  lastSeq: number | null;
  joining: number; // generation of the join in flight, 0 when none
  buffer: Envelope[];
  /** Notices (claims, presence) that came while the join was in flight: applied after its answer. */
  notices: (() => void)[];
}

const ACK_TIMEOUT_MS = 10_000;


export class LiveClient {
  readonly socket: Socket;
  private readonly subs = new Map<string, Subscription>();
  private readonly stateListeners = new Set<(state: ConnectionState, detail: string) => void>();
  private generation = 0;
  private attempts = 0;
  private closed = false;
  state: ConnectionState = "connecting";
  detail = "";

  constructor(token: string, private readonly onUnauthorized: () => void) {
    this.socket = io({
      path: "/socket.io",
      auth: { token },
      // WebSocket first (one round trip); long-polling when a proxy refuses WebSockets.
      transports: ["websocket", "polling"],
      tryAllTransports: true,
      reconnection: true,
      reconnectionDelay: 400,
      reconnectionDelayMax: 3000,
      randomizationFactor: 0.3,
      timeout: 8000,
    });
    this.socket.on("connect", () => {
      this.attempts = 0;
      this.setState("online", "");
      for (const sub of this.subs.values()) this.join(sub);
    });
    this.socket.on("connect_error", (err: Error & { data?: { code?: string } }) => {
      if (err.data?.code === "unauthorized") {
        this.close();
        this.setState("offline", "Session refused");
        this.onUnauthorized();
        return;
      }
      this.attempts += 1;
      this.setState("reconnecting", `attempt ${this.attempts}`);
      // After a server-side refusal that is not about the token the client stops by itself.
      if (!this.socket.active && !this.closed) setTimeout(() => this.reconnect(), 1500);
    });
    this.socket.on("disconnect", (reason) => {
      for (const sub of this.subs.values()) {
        sub.joining = 0;
        sub.buffer = [];
        sub.notices = [];
      }
      if (this.closed) return;
      this.setState("reconnecting", reason === "io server disconnect" ? "server closed the link" : "link lost");
      // The server sends clients away when it stops; Socket.IO does not retry that case on its own.
      if (reason === "io server disconnect") setTimeout(() => this.reconnect(), 300 + Math.random() * 400);
    });
    for (const type of ["task:created", "task:updated", "scan:updated"] as const) {
      this.socket.on(type, (envelope: Envelope) => this.receive(envelope));
    }
    this.socket.on("scan:stats", (envelope: StatsEnvelope) => {
      this.subs.get(envelope.scan_id)?.handlers.stats?.(envelope.stats);
    });
    // Notices (no seq): they say what is true now, so they are applied as they come.
    this.socket.on("scan:presence", (envelope: PresenceEnvelope) => {
      this.notice(envelope.scan_id, (handlers) => handlers.presence?.(envelope));
    });
    this.socket.on("task:claimed", (envelope: ClaimedEnvelope) => {
      this.notice(envelope.scan_id, (handlers) => handlers.claimed?.(envelope.task_id, envelope.claim));
    });
  }

  /** Apply a notice now, or after the answer of the join in flight (which it may be newer than). */
  private notice(scanId: string, apply: (handlers: ScanHandlers) => void): void {
    const sub = this.subs.get(scanId);
    if (!sub) return;
    if (sub.joining) sub.notices.push(() => apply(sub.handlers));
    else apply(sub.handlers);
  }

  private reconnect(): void {
    if (!this.closed && !this.socket.connected) this.socket.connect();
  }

  onState(listener: (state: ConnectionState, detail: string) => void): () => void {
    this.stateListeners.add(listener);
    listener(this.state, this.detail);
    return () => this.stateListeners.delete(listener);
  }

  private setState(state: ConnectionState, detail: string): void {
    this.state = state;
    this.detail = detail;
    for (const listener of this.stateListeners) listener(state, detail);
  }

  /** Watch a scan until the returned function is called. */
  subscribe(scanId: string, handlers: ScanHandlers): () => void {
    const sub: Subscription = { scanId, handlers, lastSeq: null, joining: 0, buffer: [], notices: [] };
    this.subs.set(scanId, sub);
    if (this.socket.connected) this.join(sub);
    return () => {
      if (this.subs.get(scanId) === sub) {
        this.subs.delete(scanId);
        if (this.socket.connected) this.socket.emit("scan:leave", { scan_id: scanId }, () => undefined);
      }
    };
  }

  lastSeq(scanId: string): number | null {
    return this.subs.get(scanId)?.lastSeq ?? null;
  }

  private join(sub: Subscription): void {
    const generation = ++this.generation;
    sub.joining = generation;
    sub.buffer = [];
    sub.notices = [];
    const payload: { scan_id: string; since_seq?: number } = { scan_id: sub.scanId };
    if (sub.lastSeq !== null) payload.since_seq = sub.lastSeq;
    this.socket
      .timeout(ACK_TIMEOUT_MS)
      .emitWithAck("scan:join", payload)
      .then((ack: Ack<JoinAck>) => {
        if (sub.joining !== generation || this.subs.get(sub.scanId) !== sub) return; // superseded
        this.applyJoin(sub, ack);
      })
      .catch(() => {
        if (sub.joining !== generation || this.subs.get(sub.scanId) !== sub) return;
        sub.joining = 0;
        // No answer in time: try again while connected (the reconnect path joins anyway).
        if (this.socket.connected) this.join(sub);
      });
  }

  private applyJoin(sub: Subscription, ack: Ack<JoinAck>): void {
    const buffered = sub.buffer;
    const notices = sub.notices;
    sub.buffer = [];
    sub.notices = [];
    sub.joining = 0;
    if (!ack.ok) {
      sub.handlers.failed?.(ack.error);
      return;
    }
    mark("live:join-ack", { scan: sub.scanId, tasks: ack.tasks?.length ?? 0, events: ack.events?.length ?? 0 });
    if (ack.tasks) {
      sub.lastSeq = ack.seq;
      sub.handlers.snapshot(ack.scan, ack.tasks, Boolean(ack.reset));
    } else {
      for (const event of ack.events ?? []) this.apply(sub, event);
      sub.lastSeq = Math.max(sub.lastSeq ?? 0, ack.seq);
      sub.handlers.scan?.(ack.scan);
    }
    for (const event of buffered) this.apply(sub, event);
    if (ack.claims) sub.handlers.claims?.(ack.claims);
    if (ack.presence) sub.handlers.presence?.(ack.presence);
    for (const apply of notices) apply();
  }

  private receive(envelope: Envelope): void {
    noteEvent();
    const sub = this.subs.get(envelope.scan_id);
    if (!sub) return;
    if (sub.joining) {
      sub.buffer.push(envelope);
      return;
    }
    this.apply(sub, envelope);
  }

  private apply(sub: Subscription, envelope: Envelope): void {
    if (sub.lastSeq !== null && envelope.seq <= sub.lastSeq) return; // already applied
    sub.lastSeq = envelope.seq;
    sub.handlers.event(envelope);
  }

  async submit(scanId: string, content: string, idempotencyKey: string): Promise<Ack<{ task: Task }>> {
    return this.request("task:submit", { scan_id: scanId, content, idempotency_key: idempotencyKey });
  }

  /** Decide a task; `override` decides it even though another admin holds it (§4.2). */
  async decide(taskId: string, decision: Decision, reason: string | null, override = false): Promise<Ack<{ task: Task }>> {
    const payload: { task_id: string; decision: Decision; reason?: string; override?: boolean } = { task_id: taskId, decision };
    if (reason) payload.reason = reason;
    if (override) payload.override = true;
    return this.request("task:decide", payload);
  }

  /** Take back this admin's decision within the server's undo window (§4.3). */
  async undo(taskId: string): Promise<Ack<{ task: Task }>> {
    return this.request("task:undo", { task_id: taskId });
  }

  /** Claim (or renew the claim on) a task; another admin's claim answers `conflict`. */
  async claim(taskId: string): Promise<Ack<{ claim: Claim }>> {
    return this.request("task:claim", { task_id: taskId });
  }

  async release(taskId: string): Promise<Ack<object>> {
    return this.request("task:release", { task_id: taskId });
  }

  /** Claim the oldest pending task nobody else holds, after `afterTaskId` when given. */
  async claimNext(scanId: string, afterTaskId: string | null): Promise<Ack<{ task: Task | null; claim: Claim | null }>> {
    const payload: { scan_id: string; after_task_id?: string } = { scan_id: scanId };
    if (afterTaskId) payload.after_task_id = afterTaskId;
    return this.request("task:claim_next", payload);
  }

  private async request<T>(event: string, payload: unknown): Promise<Ack<T>> {
    try {
      return (await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload)) as Ack<T>;
    } catch {
      return { ok: false, error: { code: "timeout", message: "No answer from the server in time." } };
    }
  }

  close(): void {
    this.closed = true;
    this.subs.clear();
    this.socket.close();
  }
}
