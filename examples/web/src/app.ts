// What every page gets: the session, the live connection, navigation and the shell.
import { call } from "./api";
import { h, icon, setText, shown } from "./dom";
import type { ConnectionState, LiveClient } from "./live";
import type { Session } from "./session";

export interface AppContext {
  session: Session;
  live: LiveClient;
  navigate(path: string, replace?: boolean): void;
  /** The token was refused: back to sign-in with a message. */
  expire(): void;
  signOut(): Promise<void>;
  toast(message: string, tone?: "info" | "error" | "success"): void;
  /** HTTP with the session's token. */
  api<T>(method: string, path: string, body?: unknown): Promise<T>;
}

export type Page = (root: HTMLElement, ctx: AppContext) => () => void;

const STATE_LABEL: Record<ConnectionState, string> = {
  connecting: "Connecting",
  online: "Live",
  reconnecting: "Reconnecting",
  offline: "Offline",
};

/** The connection indicator: shape and label differ per state, not only colour. */
export function connectionIndicator(live: LiveClient): { el: HTMLElement; dispose(): void } {
  const label = h("span", { class: "conn-label" });
  const el = h(
    "span",
    { class: "conn", attrs: { role: "status", "aria-live": "polite" } },
    h("span", { class: "conn-dot", attrs: { "aria-hidden": "true" } }),
    label,
  );
  const dispose = live.onState((state, detail) => {
    el.dataset.state = state;
    setText(label, STATE_LABEL[state]);
    el.title = shown(detail ? `${STATE_LABEL[state]}: ${detail}` : STATE_LABEL[state]);
  });
  return { el, dispose };
}

export interface Crumb {
  label: string;
  href?: string;
}

export function topbar(ctx: AppContext, crumbs: Crumb[], indicator: HTMLElement): HTMLElement {
  const trail = h("nav", { class: "crumbs", attrs: { "aria-label": "Breadcrumb" } });
  crumbs.forEach((crumb, i) => {
    if (i) trail.append(h("span", { class: "crumb-sep", text: "/", attrs: { "aria-hidden": "true" } }));
    trail.append(
      crumb.href
        ? h("a", { class: "crumb", text: crumb.label, title: crumb.label, attrs: { href: crumb.href, "data-nav": "" } })
        : h("span", { class: "crumb crumb-current", text: crumb.label, title: crumb.label, attrs: { "aria-current": "page" } }),
    );
  });
  const home = ctx.session.user.role === "admin" ? "/admin" : "/";
  return h(
    "header",
    { class: "topbar glass" },
    h("a", { class: "brand", attrs: { href: home, "data-nav": "", "aria-label": "TaskStream home" } },
      h("span", { class: "brand-mark", attrs: { "aria-hidden": "true" } }, icon("bolt")),
      h("span", { class: "brand-name", text: "TaskStream" })),
    trail,
    h("div", { class: "topbar-end" },
      indicator,
      h("span", { class: "user-chip", title: `Signed in as ${ctx.session.user.username} (${ctx.session.user.role})` },
        h("span", { class: "user-name", text: ctx.session.user.username }),
        h("span", { class: `role role-${ctx.session.user.role}`, text: ctx.session.user.role })),
      h("button", {
        class: "btn btn-ghost btn-sm",
        attrs: { type: "button" },
        on: { click: () => void ctx.signOut() },
      }, icon("out"), h("span", { class: "btn-text", text: "Sign out" }))),
  );
}

export async function authed<T>(token: string, method: string, path: string, body?: unknown): Promise<T> {
  return call<T>(method, path, { token, body });
}
