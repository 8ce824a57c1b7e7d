// Who reviews this scan now (CONTRACT.md §4.1): one avatar per present admin, in the page header.
import { avatar } from "./avatar";
import { h, setText, shown } from "./dom";
import type { Presence } from "./types";

export class PresenceBar {
  readonly el: HTMLElement;
  private readonly list: HTMLElement;
  private readonly others: HTMLElement;

  /** Args: me, the signed-in admin's id (shown as "you"). */
  constructor(private readonly me: string) {
    this.list = h("ul", { class: "presence-list" });
    this.others = h("span", { class: "presence-workers muted" });
    this.el = h("div", { class: "presence", attrs: { role: "group", "aria-label": "Reviewers here now" } },
      this.list, this.others);
    this.el.hidden = true;
  }

  /** Show `presence`: the present admins as avatars, the workers as a count. */
  update(presence: Presence): void {
    const admins = (presence.present ?? []).filter((user) => user.role === "admin");
    this.list.replaceChildren(...admins.map((user) => {
      const you = user.user_id === this.me;
      const label = you ? `${user.username} (you)` : `${user.username} is reviewing`;
      return h("li", { class: "presence-item", data: { userId: user.user_id, username: user.username } },
        avatar(user.username, label, you ? "presence-avatar is-me" : "presence-avatar"));
    }));
    const workers = presence.submitters;
    setText(this.others, workers ? `${workers} worker${workers === 1 ? "" : "s"} here` : "");
    this.el.title = shown(`${presence.reviewers} reviewer${presence.reviewers === 1 ? "" : "s"} here now: ${admins.map((u) => u.username).join(", ")}`);
    this.el.hidden = admins.length === 0 && workers === 0;
  }
}
