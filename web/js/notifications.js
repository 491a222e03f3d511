// The notifications page (stub: a second helper replaces it). mount(el, ctx): see app.js.
import { clear, formatDate, h } from "./ui.js";

const NOTIFICATIONS = `query Notifications {
  notifications(first: 50) { unreadCount nodes { id kind title body leadId createdAt readAt } }
}`;

export function mount(el, ctx) {
  const list = h("ul", { class: "notifications" });
  const status = h("p", { role: "status" });
  el.append(h("h1", {}, "Notifications"), status, list);
  async function load() {
    try {
      const { notifications } = await ctx.api.query(NOTIFICATIONS);
      ctx.setUnreadCount(notifications.unreadCount);
      clear(list);
      status.textContent = notifications.nodes.length ? "" : "No notifications.";
      for (const n of notifications.nodes) {
        list.append(
          h(
            "li",
            { class: n.readAt ? "read" : "unread" },
            h("p", { class: "title" }, n.leadId ? h("a", { href: `#/lead/${encodeURIComponent(n.leadId)}` }, n.title) : n.title),
            h("p", {}, n.body),
            h("p", { class: "meta" }, formatDate(n.createdAt)),
          ),
        );
      }
    } catch (err) {
      status.textContent = err.message;
    }
  }
  load();
  return ctx.onNotification(() => load());
}
