// One clear sentence for every error code of the contract, by what the user was doing.
import { ApiError, NETWORK } from "./api";
import type { WireError } from "./types";

export type Context = "login" | "register" | "scan" | "submit" | "decide" | "join" | "general";

function minutes(seconds: number | null): string {
  if (!seconds) return "a few minutes";
  const m = Math.ceil(seconds / 60);
  return m <= 1 ? "a minute" : `${m} minutes`;
}

export function explain(error: unknown, context: Context = "general"): string {
  const e: WireError & { retryAfter?: number | null } =
    error instanceof ApiError
      ? { code: error.code, message: error.message, retryAfter: error.retryAfter }
      : typeof error === "object" && error !== null && "code" in error
        ? (error as WireError)
        : { code: "internal", message: String(error) };
  switch (e.code) {
    case NETWORK:
      // Only the outboxes (submissions, decisions) retry by themselves, and say so on the item
      // or card: promise nothing here.
      if (context === "submit") return "Not sent — will be sent when the connection is back.";
      return "Can't reach the TaskStream server. Check your connection and try again.";
    case "timeout":
      return "The server did not answer in time. Check the connection indicator and try again.";
    case "invalid_request":
      if (context === "register") return `That doesn't fit the rules: ${e.message}`;
      return `The server refused this request: ${e.message}`;
    case "unauthorized":
      if (context === "login") return "Wrong username or password.";
      return "Your session has ended. Please sign in again.";
    case "forbidden":
      if (context === "register")
        return "That admin invite code is not valid. Ask whoever runs the server for the current code.";
      if (context === "decide") return "Only admins can validate or refuse tasks.";
      if (context === "submit") return "Only workers can submit to a scan.";
      return "Your account is not allowed to do that.";
    case "not_found":
      if (context === "scan" || context === "join") return "This scan does not exist (check the link).";
      return "That item no longer exists.";
    case "conflict":
      if (context === "register") return "That username is taken (names are unique ignoring case). Pick another.";
      return "That conflicts with what is already there.";
    case "scan_closed":
      return "This scan is closed: it no longer takes submissions.";
    case "already_decided":
      return "Another admin decided this task first.";
    case "payload_too_large":
      return "That is more than the server accepts in one request (64 KiB).";
    case "rate_limited":
      if (context === "login")
        return `Too many failed sign-ins for this username. Try again in ${minutes(e.retryAfter ?? null)}.`;
      return `Too many requests. Try again in ${minutes(e.retryAfter ?? null)}.`;
    case "unavailable":
      return "The server can't reach its storage right now. Try again in a moment.";
    case "internal":
      return "Something went wrong on the server. Try again; if it keeps happening, tell an operator.";
    default:
      return e.message || "Something went wrong.";
  }
}
