// HTTP calls to the contract's routes, with its errors turned into ApiError.
import type { Task, WireError } from "./types";

export class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  readonly task: Task | undefined;
  readonly retryAfter: number | null;

  constructor(status: number, error: WireError, retryAfter: number | null = null) {
    super(error.message);
    this.name = "ApiError";
    this.code = error.code;
    this.status = status;
    this.task = error.task;
    this.retryAfter = retryAfter;
  }
}

/** The server could not be reached at all. */
export const NETWORK = "network";

export interface CallOptions {
  token?: string | null;
  body?: unknown;
  signal?: AbortSignal;
  /** Let the request outlive the page (a claim released as the page goes away). */
  keepalive?: boolean;
}

export async function call<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  let response: Response;
  try {
    response = await fetch(path, { method, headers, body, signal: options.signal ?? null, keepalive: options.keepalive ?? false });
  } catch (exc) {
    if (exc instanceof DOMException && exc.name === "AbortError") throw exc;
    throw new ApiError(0, { code: NETWORK, message: "The server cannot be reached." });
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    const error = (parsed as { error?: WireError } | null)?.error;
    const retry = Number(response.headers.get("Retry-After"));
    throw new ApiError(
      response.status,
      error && typeof error.code === "string"
        ? error
        : { code: response.status >= 500 ? "internal" : "invalid_request", message: text.slice(0, 200) },
      Number.isFinite(retry) && retry > 0 ? retry : null,
    );
  }
  return parsed as T;
}

/** Download an authenticated response as a file (export). */
export async function download(path: string, token: string, fallbackName: string): Promise<void> {
  let response: Response;
  try {
    response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
  } catch {
    throw new ApiError(0, { code: NETWORK, message: "The server cannot be reached." });
  }
  if (!response.ok) {
    const parsed = (await response.json().catch(() => null)) as { error?: WireError } | null;
    throw new ApiError(response.status, parsed?.error ?? { code: "internal", message: "Export failed." });
  }
  const disposition = response.headers.get("Content-Disposition") ?? "";
  const match = /filename="?([^";]+)"?/i.exec(disposition);
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = match?.[1] ?? fallbackName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
