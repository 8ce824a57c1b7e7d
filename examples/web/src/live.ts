// One Socket.IO connection per signed-in tab, and the per-scan subscriptions on it.
//
// Ordering rules (CONTRACT.md §3 and docs/dashboard.md):
// - a scan's live events may reach the socket before the ack of the join that
//   subscribed to it: while a join is in flight its events are buffered; the ack
//   is applied first, then the buffer, skipping every event whose seq is not
//   above the last seq applied for that scan;
// - on reconnect each scan is joined again with since_seq = last applied seq,
//   and the ack's events are applied the same way; a `reset` ack is a snapshot;
// - a refused token (connect_error data {code: "unauthorized"}) signs out.
import { io, type Socket } from "socket.io-client";
import { mark, noteEvent } from "./diag";
import type { Ack, Decision, Envelope, JoinAck, Scan, Stats, StatsEnvelope, Task, WireError } from "./types";

export type ConnectionState = "connecting" | "online" | "reconnecting" | "offline";

export interface ScanHandlers {
  /** A full picture: first join, or a `reset` on resume. */
  snapshot(scan: Scan, tasks: Task[], reset: boolean): void;
  /** One stored event, in seq order, never twice. */
  event(event: Envelope): void;
  /** The scan object as the latest join ack has it. */
  scan?(scan: Scan): void;
  stats?(stats: Stats): void;
  /** The join was refused (not_found, forbidden...). */
  failed?(error: WireError): void;
  /** Who is present (CONTRACT.md §4.1): from each join ack and every `scan:presence`. */
  presence?(presence: PresenceCounts): void;
}

/** The counts every user gets in `presence` and `scan:presence` (admins also get `present`). */
export interface PresenceCounts {
  reviewers: number;
  submitters: number;
}

interface Subscription {
  scanId: string;
  handlers: ScanHandlers;
  lastSeq: number | null;
  joining: number; // generation of the join in flight, 0 when none
  buffer: Envelope[];
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
      }
      if (this.closed) return;
      this.setState("reconnecting", reason === "io server disconnect" ? "server closed the link" : "link lost");
      // The server sends clients away when it stops; Socket.IO does not retry that case on its own.
      if (reason === "io server disconnect") setTimeout(() => this.reconnect(), 300 + Math.random() * 400);
    });
    for (const type of ["task:created", "task:updated", "scan:updated"] as const) {
      this.socket.on(type, (envelope: Envelope) => this.receive(envelope));
    }
    this.socket.on("scan:presence", (notice: PresenceCounts & { scan_id: string }) => {
      this.subs.get(notice.scan_id)?.handlers.presence?.(notice);
    });
    this.socket.on("scan:stats", (envelope: StatsEnvelope) => {
      this.subs.get(envelope.scan_id)?.handlers.stats?.(envelope.stats);
    });
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
    const sub: Subscription = { scanId, handlers, lastSeq: null, joining: 0, buffer: [] };
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
    sub.buffer = [];
    sub.joining = 0;
    if (!ack.ok) {
      sub.handlers.failed?.(ack.error);
      return;
    }
    const presence = (ack as { presence?: PresenceCounts }).presence;
    if (presence) sub.handlers.presence?.(presence);
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

  async decide(taskId: string, decision: Decision, reason: string | null): Promise<Ack<{ task: Task }>> {
    const payload: { task_id: string; decision: Decision; reason?: string } = { task_id: taskId, decision };
    if (reason) payload.reason = reason;
    return this.request("task:decide", payload);
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
