// The tab title: what the page shows, its state, and a "(n)" badge for notices the
// user has not seen yet (they arrived while the tab was hidden or unfocused). The
// badge clears when the tab is shown or focused again.

import { shown } from "./dom";

const APP = "TaskStream";

let parts: string[] = [];
let unseen = 0;

function render(): void {
  const text = [...parts, APP].join(" · ");
  document.title = shown(unseen > 0 ? `(${unseen}) ${text}` : text);
}

/** Set the title to `parts` (empty ones left out), then the app's name, keeping the badge. */
export function setTitle(...values: (string | null | undefined | false)[]): void {
  parts = values.filter((value): value is string => Boolean(value));
  render();
}

/** True when a notice arriving now may go unseen: the tab is hidden or has no focus. */
export function inBackground(): boolean {
  return document.visibilityState === "hidden" || !document.hasFocus();
}

/** Count one notice as unseen when the tab is in the background. */
export function noteUnseen(): void {
  if (!inBackground()) return;
  unseen += 1;
  render();
}

/** The number of notices not seen yet. */
export function unseenCount(): number {
  return unseen;
}

/** Forget the unseen notices (the user looked, or left the page they were about). */
export function clearUnseen(): void {
  if (unseen === 0) return;
  unseen = 0;
  render();
}

window.addEventListener("focus", clearUnseen);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") clearUnseen();
});
