// The single-page app: one index.html for every page URL, routed here.
import "./styles.css";
import { authed, connectionIndicator, topbar, type AppContext } from "./app";
import { ApiError, call } from "./api";
import { h } from "./dom";
import { LiveClient } from "./live";
import { renderAdminHome } from "./pages/adminHome";
import { renderAdminScan } from "./pages/adminScan";
import { renderSignIn } from "./pages/signin";
import { renderWorkerScan } from "./pages/worker";
import { renderWorkerHome } from "./pages/workerHome";
import { clearSession, loadSession, saveSession, type Session } from "./session";
import { clearUnseen, setTitle } from "./title";

const root = document.getElementById("app")!;
const toasts = h("div", { class: "toasts", attrs: { role: "status", "aria-live": "polite" } });
document.body.append(toasts);

let cleanup: (() => void) | null = null;
let live: LiveClient | null = null;
let liveToken: string | null = null;
let notice: string | null = null;

function toast(message: string, tone: "info" | "error" | "success" = "info"): void {
  const el = h("div", { class: `toast toast-${tone}`, text: message, attrs: { dir: "auto" } });
  toasts.append(el);
  while (toasts.children.length > 4) toasts.firstElementChild?.remove();
  window.setTimeout(() => {
    el.classList.add("toast-out");
    window.setTimeout(() => el.remove(), 300);
  }, tone === "error" ? 6000 : 3500);
}

function navigate(path: string, replace = false): void {
  if (replace) history.replaceState(null, "", path);
  else if (path !== location.pathname) history.pushState(null, "", path);
  route();
}

function expire(): void {
  live?.close();
  live = null;
  liveToken = null;
  clearSession();
  notice = "Your session has ended. Please sign in again.";
  route();
}

async function signOut(): Promise<void> {
  const session = loadSession();
  if (session) {
    await call("POST", "/api/auth/logout", { token: session.token }).catch(() => undefined);
  }
  live?.close();
  live = null;
  liveToken = null;
  clearSession();
  notice = "You are signed out.";
  navigate("/");
}

function ensureLive(session: Session): LiveClient {
  if (!live || liveToken !== session.token) {
    live?.close();
    live = new LiveClient(session.token, expire);
    liveToken = session.token;
  }
  return live;
}

function context(session: Session): AppContext {
  return {
    session,
    live: ensureLive(session),
    navigate,
    expire,
    signOut,
    toast,
    api: async <T,>(method: string, path: string, body?: unknown): Promise<T> => {
      try {
        return await authed<T>(session.token, method, path, body);
      } catch (error) {
        if (error instanceof ApiError && error.code === "unauthorized") expire();
        throw error;
      }
    },
  };
}

function message(ctx: AppContext, title: string, text: string, link: { href: string; label: string }): () => void {
  const indicator = connectionIndicator(ctx.live);
  const page = h("div", { class: "shell" },
    topbar(ctx, [{ label: title }], indicator.el),
    h("main", { class: "home home-single" },
      h("section", { class: "panel glass notice-panel" },
        h("h1", { class: "panel-title", text: title }),
        h("p", { class: "muted", text }),
        h("a", { class: "btn btn-primary", text: link.label, attrs: { href: link.href, "data-nav": "" } }))));
  root.append(page);
  setTitle(title);
  return () => {
    indicator.dispose();
    page.remove();
  };
}

function route(): void {
  cleanup?.();
  cleanup = null;
  clearUnseen();
  setTitle();
  const session = loadSession();
  const path = location.pathname.replace(/\/+$/, "") || "/";
  if (!session) {
    const shown = notice;
    notice = null;
    setTitle("Sign in");
    cleanup = renderSignIn(root, (signed) => {
      saveSession(signed);
      route();
    }, shown);
    return;
  }
  const ctx = context(session);
  const admin = session.user.role === "admin";
  const scanMatch = /^\/admin\/scans\/([^/]+)$/.exec(path);
  const workerMatch = /^\/worker\/scan\/([^/]+)$/.exec(path);
  if (path === "/") {
    if (admin) return navigate("/admin", true);
    cleanup = renderWorkerHome(root, ctx);
  } else if (path === "/admin") {
    cleanup = admin
      ? renderAdminHome(root, ctx)
      : message(ctx, "Admins only", "This page is for admins. Your worker account can contribute to open scans.", { href: "/", label: "Open scans" });
  } else if (scanMatch) {
    const id = decodeURIComponent(scanMatch[1]!);
    cleanup = admin
      ? renderAdminScan(root, ctx, id)
      : message(ctx, "Admins only", "Reviewing a scan is for admins. You can contribute to it instead.", { href: `/worker/scan/${encodeURIComponent(id)}`, label: "Contribute to this scan" });
  } else if (workerMatch) {
    const id = decodeURIComponent(workerMatch[1]!);
    cleanup = admin
      ? message(ctx, "Worker page", "This is the link workers use to contribute. As an admin you review the scan instead.", { href: `/admin/scans/${encodeURIComponent(id)}`, label: "Review this scan" })
      : renderWorkerScan(root, ctx, id);
  } else {
    cleanup = message(ctx, "Not found", "There is no page at this address.", { href: "/", label: "Home" });
  }
}

window.addEventListener("popstate", route);
document.addEventListener("click", (event) => {
  const link = (event.target as Element).closest<HTMLAnchorElement>("a[data-nav]");
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  const url = new URL(link.href);
  if (url.origin !== location.origin) return;
  event.preventDefault();
  navigate(url.pathname);
});
route();
