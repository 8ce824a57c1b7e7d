// The wire objects of the TaskStream contract (CONTRACT.md §2 and §4), as the dashboard reads them.

export type Role = "admin" | "worker";
export type TaskStatus = "pending" | "validated" | "refused";
export type Decision = "validated" | "refused";

export interface User {
  id: string;
  username: string;
  role: Role;
  created_at: string;
}

export interface Counts {
  pending: number;
  validated: number;
  refused: number;
}

export interface Scan {
  id: string;
  name: string;
  description: string;
  status: "open" | "closed";
  created_by: string;
  created_at: string;
  closed_at?: string | null;
  counts: Counts;
}

export interface Task {
  id: string;
  scan_id: string;
  worker_id: string;
  worker_username: string;
  content: string;
  status: TaskStatus;
  reason: string | null;
  decided_by: string | null;
  created_at: string;
  decided_at: string | null;
  seq: number;
}

export interface WorkerStats {
  worker_id: string;
  username: string;
  submitted: number;
  pending: number;
  validated: number;
  refused: number;
}

/** One admin's decisions in a scan (CONTRACT.md §4.5); counts are of decisions that stand. */
export interface ReviewerStats {
  admin_id: string;
  username: string;
  decided: number;
  validated: number;
  refused: number;
  undone: number;
  decision_seconds_p50: number | null;
}

export interface Stats {
  scan_id: string;
  total: number;
  pending: number;
  validated: number;
  refused: number;
  acceptance_rate: number | null;
  submissions_last_minute: number;
  decision_seconds_p50: number | null;
  decision_seconds_p95: number | null;
  workers: WorkerStats[];
  /** Contract v2 (§4.5). */
  decisions_last_minute: number;
  oldest_pending_at: string | null;
  reviewers: ReviewerStats[];
}

export interface WireError {
  code: string;
  message: string;
  /** With `already_decided`: the task as the winning decision left it. */
  task?: Task;
  /** With `conflict` on a claim or a decision: the other admin's claim (CONTRACT.md §4.2). */
  claim?: Claim;
}

/** "This admin is deciding this task now" (CONTRACT.md §4.2); lasts 30 s unless renewed. */
export interface Claim {
  task_id: string;
  admin_id: string;
  admin_username: string;
  expires_at: string;
}

/** A user with a socket joined to the scan (CONTRACT.md §4.1). */
export interface PresentUser {
  user_id: string;
  username: string;
  role: Role;
  since: string;
}

/** Who is present; `present` is only given to admins. */
export interface Presence {
  reviewers: number;
  submitters: number;
  present?: PresentUser[];
}

/** `scan:presence`: a notice, no seq. */
export interface PresenceEnvelope extends Presence {
  type: "scan:presence";
  scan_id: string;
}

/** `task:claimed`: a notice to the scan's admins, no seq; `claim` null when it ended. */
export interface ClaimedEnvelope {
  type: "task:claimed";
  scan_id: string;
  task_id: string;
  claim: Claim | null;
}

/** One line of `GET /api/tasks/{id}/history` (CONTRACT.md §4.4). */
export interface HistoryEntry {
  seq: number;
  at: string;
  action: "created" | "validated" | "refused" | "undone";
  by: { user_id: string; username: string };
  reason: string | null;
}

/** The answer of `GET /api/tasks/{id}/history`. */
export interface TaskHistory {
  task_id: string;
  entries: HistoryEntry[];
}

/** A live event envelope (CONTRACT.md §3). */
export type Envelope =
  | { type: "task:created"; scan_id: string; seq: number; task: Task }
  | { type: "task:updated"; scan_id: string; seq: number; task: Task }
  | { type: "scan:updated"; scan_id: string; seq: number; scan: Scan };

export interface StatsEnvelope {
  type: "scan:stats";
  scan_id: string;
  seq: number;
  stats: Stats;
}

export type Ack<T> = ({ ok: true } & T) | { ok: false; error: WireError };

export interface JoinAck {
  scan: Scan;
  seq: number;
  tasks?: Task[];
  events?: Envelope[];
  reset?: boolean;
  /** v2: who is present, in the shape this user gets (every join answer). */
  presence?: Presence;
  /** v2: every live claim of the scan (an admin's snapshot answer, not a resume). */
  claims?: Claim[];
}
