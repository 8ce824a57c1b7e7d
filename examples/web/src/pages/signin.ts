// Sign in / register, with the role choice and the admin invite code.
import { ApiError, call } from "../api";
import { h, icon, setText } from "../dom";
import { explain } from "../messages";
import type { Session } from "../session";
import type { Role, User } from "../types";

const USERNAME = /^[A-Za-z0-9_.-]{3,32}$/;

export function renderSignIn(root: HTMLElement, onSignedIn: (session: Session) => void, notice: string | null): () => void {
  let mode: "login" | "register" = "login";
  let role: Role = "worker";
  let busy = false;

  const message = h("p", { class: "form-message", attrs: { role: "alert", "aria-live": "assertive" } });
  // maxlength is above the rule's 32: a longer name is refused with the rule's message (USERNAME),
  // never cut to 32 in the box and registered under the cut name.
  const username = h("input", {
    class: "input",
    attrs: { id: "username", name: "username", autocomplete: "username", required: "", spellcheck: "false", autocapitalize: "off", maxlength: "64" },
  });
  const password = h("input", {
    class: "input",
    attrs: { id: "password", name: "password", type: "password", autocomplete: "current-password", required: "", maxlength: "256" },
  });
  const invite = h("input", {
    class: "input",
    attrs: { id: "invite", name: "invite_code", autocomplete: "off", spellcheck: "false" },
  });
  const usernameHint = h("span", { class: "hint", text: "3–32 letters, digits, _ . -" });
  const passwordHint = h("span", { class: "hint", text: "At least 8 characters" });
  const inviteField = h("div", { class: "field" },
    h("label", { class: "label", text: "Admin invite code", attrs: { for: "invite" } }),
    invite,
    h("span", { class: "hint", text: "Printed by the server at its first start." }));
  const roleWorker = h("button", { class: "seg", attrs: { type: "button", "aria-pressed": "true", "data-role": "worker" } },
    h("strong", { text: "Worker" }), h("span", { text: "Submit observations & suggestions" }));
  const roleAdmin = h("button", { class: "seg", attrs: { type: "button", "aria-pressed": "false", "data-role": "admin" } },
    h("strong", { text: "Admin" }), h("span", { text: "Review, validate & refuse" }));
  const roleField = h("div", { class: "field" },
    h("span", { class: "label", text: "I am a", attrs: { id: "role-label" } }),
    h("div", { class: "segmented", attrs: { role: "group", "aria-labelledby": "role-label" } }, roleWorker, roleAdmin));
  const submit = h("button", { class: "btn btn-primary btn-block", attrs: { type: "submit" } });
  const tabLogin = h("button", { class: "tab", attrs: { type: "button", role: "tab", id: "tab-login" }, text: "Sign in" });
  const tabRegister = h("button", { class: "tab", attrs: { type: "button", role: "tab", id: "tab-register" }, text: "Create account" });

  const form = h("form", { class: "auth-form", attrs: { novalidate: "" } },
    h("div", { class: "tabs", attrs: { role: "tablist" } }, tabLogin, tabRegister),
    h("div", { class: "field" }, h("label", { class: "label", text: "Username", attrs: { for: "username" } }), username, usernameHint),
    h("div", { class: "field" }, h("label", { class: "label", text: "Password", attrs: { for: "password" } }), password, passwordHint),
    roleField,
    inviteField,
    message,
    submit);

  function sync(): void {
    const registering = mode === "register";
    tabLogin.setAttribute("aria-selected", String(!registering));
    tabRegister.setAttribute("aria-selected", String(registering));
    roleField.hidden = !registering;
    inviteField.hidden = !registering || role !== "admin";
    usernameHint.hidden = !registering;
    passwordHint.hidden = !registering;
    password.autocomplete = registering ? "new-password" : "current-password";
    roleWorker.setAttribute("aria-pressed", String(role === "worker"));
    roleAdmin.setAttribute("aria-pressed", String(role === "admin"));
    setText(submit, busy ? "Please wait…" : registering ? `Create ${role} account` : "Sign in");
    submit.disabled = busy;
    form.dataset.mode = mode;
  }

  function say(text: string, tone: "error" | "info" = "error"): void {
    setText(message, text);
    message.dataset.tone = tone;
  }

  tabLogin.addEventListener("click", () => { mode = "login"; say(""); sync(); });
  tabRegister.addEventListener("click", () => { mode = "register"; say(""); sync(); });
  roleWorker.addEventListener("click", () => { role = "worker"; sync(); });
  roleAdmin.addEventListener("click", () => { role = "admin"; sync(); invite.focus(); });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (busy) return;
    const name = username.value.trim();
    const secret = password.value;
    if (mode === "register") {
      if (!USERNAME.test(name)) return say("Usernames are 3–32 characters: letters, digits, _ . or -.");
      if (secret.length < 8) return say("Passwords need at least 8 characters.");
      if (role === "admin" && !invite.value.trim()) return say("Registering an admin needs the invite code.");
    } else if (!name || !secret) {
      return say("Enter your username and password.");
    }
    busy = true;
    say("");
    sync();
    const body =
      mode === "register"
        ? { username: name, password: secret, role, ...(role === "admin" ? { invite_code: invite.value.trim() } : {}) }
        : { username: name, password: secret };
    call<{ token: string; user: User }>("POST", mode === "register" ? "/api/auth/register" : "/api/auth/login", { body })
      .then((answer) => onSignedIn({ token: answer.token, user: answer.user }))
      .catch((error: unknown) => {
        busy = false;
        sync();
        say(error instanceof ApiError ? explain(error, mode) : "Something went wrong.");
        (mode === "login" ? password : username).focus();
      });
  });

  const page = h("main", { class: "auth-page" },
    h("section", { class: "auth-hero" },
      h("div", { class: "brand brand-lg" },
        h("span", { class: "brand-mark", attrs: { "aria-hidden": "true" } }, icon("bolt")),
        h("span", { class: "brand-name", text: "TaskStream" })),
      h("h1", { class: "hero-title", text: "Every observation, reviewed the moment it lands." }),
      h("ul", { class: "hero-points" },
        h("li", null, icon("eye"), "Workers submit observations and suggestions into a scan."),
        h("li", null, icon("checkCircle"), "Admins validate or refuse them on a live grid — mouse or keyboard."),
        h("li", null, icon("bolt"), "Decisions reach the worker instantly, with the reason."))),
    h("section", { class: "auth-card glass" },
      h("h2", { class: "auth-title", text: "Welcome" }),
      notice ? h("p", { class: "form-message", text: notice, data: { tone: "info" } }) : null,
      form));
  root.append(page);
  sync();
  username.focus();
  return () => page.remove();
}
