// A styled confirmation dialog (a native <dialog>), instead of window.confirm.
import { h } from "./dom";

/**
 * Ask before doing something. Args: title, the question; text, what it does;
 * confirmLabel, the confirming button's text; tone, that button's look.
 * Returns: true when confirmed, false on Cancel or Esc.
 */
export function confirmDialog(title: string, text: string, confirmLabel: string, tone: "danger" | "primary" = "danger"): Promise<boolean> {
  return new Promise((resolve) => {
    const yes = h("button", { class: `btn btn-${tone}`, attrs: { type: "submit", value: "yes" }, text: confirmLabel });
    const no = h("button", { class: "btn btn-ghost", attrs: { type: "button" }, text: "Cancel" });
    const form = h("form", { class: "refuse-form", attrs: { method: "dialog" } },
      h("h2", { class: "dialog-title", text: title, attrs: { id: "confirm-title" } }),
      h("p", { class: "muted confirm-text", text }),
      h("div", { class: "dialog-actions" }, no, yes));
    const dialog = h("dialog", { class: "dialog glass", attrs: { "aria-labelledby": "confirm-title" } }, form);
    let answer = false;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      answer = true;
      dialog.close();
    });
    no.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    yes.focus();
  });
}
