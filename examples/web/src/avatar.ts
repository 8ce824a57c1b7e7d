// Avatars for usernames: two letters and a colour, both from the whole name, so
// crew1…crew6 read "C1"…"C6" in six different hues instead of six identical "C".
import { h, setText } from "./dom";

/**
 * Two letters for a username: the first letters of its first two parts
 * ("ada-admin" → "AA"), else its first letter and its last digit ("crew4" → "C4"),
 * else its first two letters ("wren" → "WR").
 *
 * Args: username, the user's name. Returns: one or two upper-case characters.
 */
export function initials(username: string): string {
  const parts = username.split(/[-_.\s]+/).filter(Boolean);
  if (parts.length >= 2) return (parts[0]![0]! + parts[1]![0]!).toUpperCase();
  const name = parts[0] ?? username;
  const digit = /\d(?=\D*$)/.exec(name.slice(1));
  if (digit) return (name[0]! + digit[0]).toUpperCase();
  return name.slice(0, 2).toUpperCase() || "?";
}

/**
 * A hue (0–359) for a username: FNV-1a with a final mix, so names one
 * character apart land far apart on the colour wheel.
 *
 * Args: text, the name. Returns: the hue in degrees.
 */
export function hue(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 15;
  hash = Math.imul(hash, 0x2c1b3c6d);
  hash ^= hash >>> 12;
  // 24 steps of 15°: neighbouring steps are still told apart.
  return ((hash >>> 0) % 24) * 15;
}

/** Give an avatar element its letters and colour for `username`. */
export function paintAvatar(el: HTMLElement, username: string): void {
  setText(el, initials(username));
  el.style.setProperty("--hue", String(hue(username)));
}

/**
 * A round avatar with the user's full name as its accessible name and tooltip.
 *
 * Args: username, the user's name; label, the accessible name (the username by default);
 * cls, extra classes. Returns: the element (role img).
 */
export function avatar(username: string, label = username, cls = ""): HTMLElement {
  const el = h("span", { class: `avatar ${cls}`.trim(), title: label, attrs: { role: "img", "aria-label": label } });
  paintAvatar(el, username);
  return el;
}
