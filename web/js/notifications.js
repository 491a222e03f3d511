// The notifications page (R13): the viewer's in-app notifications, newest first, paged; new
// ones arrive live at the top; mark one or all read. mount(el, ctx): see app.js.
// #/notifications?unread=1 lists the unread ones only. The header's badge is the shell's:
// this page sets it (ctx.setUnreadCount) from the API's unreadCount after each change. New
// notifications are announced by the shell as they arrive, so this page does not repeat it.

import { clear, formatDate, h } from "./ui.js";
import { useViewsStyles } from "./views.js";

const PAGE_SIZE = 20;
const FIELDS = "id kind title body leadId createdAt readAt";
const NOTIFICATIONS = `query NotificationsPage($first: Int, $after: String, $unreadOnly: Boolean!) {
  notifications(first: $first, after: $after, unreadOnly: $unreadOnly) {
    unreadCount
    pageInfo { hasNextPage endCursor }
    nodes { ${FIELDS} }
  }
}`;
const UNREAD_IDS = `query UnreadNotificationIds($after: String) {
  notifications(first: 100, after: $after, unreadOnly: true) {
    pageInfo { hasNextPage endCursor }
    nodes { id }
  }
}`;
const UNREAD_COUNT = `query UnreadNotificationCount {
  notifications(first: 1, unreadOnly: true) { unreadCount }
}`;
const MARK_READ = `mutation MarkNotificationsRead($ids: [ID!]!) {
  markNotificationsRead(ids: $ids) { marked errors { code field message } }
}`;
// "Mark all read" marks every unread one, not only those loaded: up to this many pages.
const MAX_ID_PAGES = 20;

export function mount(el, ctx) {
  useViewsStyles();
  const unreadOnly = ctx.route.params.get("unread") === "1";
  const items = new Map(); // id -> {note, li}
  let cursor = null;
  let closed = false;

  const status = h("p", { role: "status", class: "status" });
  const count = h("p", { class: "unread-summary" });
  const list = h("ul", { class: "notification-list", "aria-label": "Notifications" });
  const more = h("button", { type: "button", hidden: true, onclick: () => loadPage() }, "Load more");
  const markAll = h("button", { type: "button", disabled: true, onclick: () => markAllRead() }, "Mark all read");
  const filter = h("input", {
    type: "checkbox",
    id: "notifications-unread-only",
    checked: unreadOnly,
    onchange: (event) => ctx.navigate(event.target.checked ? "#/notifications?unread=1" : "#/notifications"),
  });
  el.append(
    h("h1", {}, "Notifications"),
    h(
      "div",
      { class: "notification-tools" },
      h("label", { for: "notifications-unread-only" }, filter, "Unread only"),
      markAll,
      count,
    ),
    status,
    list,
    h("div", { class: "more" }, more),
  );

  function setUnread(n) {
    count.textContent = n === 1 ? "1 unread" : `${n} unread`;
    markAll.disabled = n === 0;
    ctx.setUnreadCount(n);
  }

  function render(note, { fresh = false } = {}) {
    const unread = !note.readAt;
    const title = note.leadId
      ? h("a", { href: `#/lead/${encodeURIComponent(note.leadId)}` }, note.title)
      : note.title;
    const side = h(
      "div",
      { class: "side" },
      unread ? h("span", { class: "unread-marker" }, "Unread") : null,
      unread
        ? h("button", { type: "button", "aria-label": `Mark read: ${note.title}`, onclick: () => markRead([note.id]) }, "Mark read")
        : null,
    );
    return h(
      "li",
      { class: `notification ${unread ? "unread" : "read"}${fresh ? " fresh" : ""}`, dataset: { notificationId: note.id } },
      h(
        "div",
        {},
        h("h2", {}, title),
        h("p", { class: "body" }, note.body),
        h("p", { class: "meta" }, h("time", { datetime: note.createdAt }, formatDate(note.createdAt))),
      ),
      side,
    );
  }

  function put(note, { top = false, fresh = false } = {}) {
    const existing = items.get(note.id);
    const li = render(note, { fresh });
    if (existing) {
      existing.li.replaceWith(li);
    } else if (top) {
      list.prepend(li);
    } else {
      list.append(li);
    }
    items.set(note.id, { note, li });
  }

  function showEmpty() {
    status.textContent = items.size ? "" : unreadOnly ? "No unread notifications." : "No notifications yet.";
  }

  async function loadPage() {
    more.disabled = true;
    try {
      const { notifications } = await ctx.api.query(NOTIFICATIONS, { first: PAGE_SIZE, after: cursor, unreadOnly });
      if (closed) return;
      for (const note of notifications.nodes) put(note);
      cursor = notifications.pageInfo.endCursor;
      more.hidden = !notifications.pageInfo.hasNextPage;
      setUnread(notifications.unreadCount);
      showEmpty();
    } catch (err) {
      status.textContent = err.message;
    } finally {
      more.disabled = false;
    }
  }

  // After a reconnect: what arrived meanwhile is on the first page (newest first).
  async function catchUp() {
    try {
      const { notifications } = await ctx.api.query(NOTIFICATIONS, { first: PAGE_SIZE, after: null, unreadOnly });
      if (closed) return;
      for (const note of [...notifications.nodes].reverse()) {
        if (!items.has(note.id)) put(note, { top: true, fresh: true });
      }
      setUnread(notifications.unreadCount);
      showEmpty();
    } catch (err) {
      status.textContent = err.message;
    }
  }

  async function refreshCount() {
    const { notifications } = await ctx.api.query(UNREAD_COUNT);
    if (!closed) setUnread(notifications.unreadCount);
  }

  async function markRead(ids) {
    if (!ids.length) return;
    try {
      const { markNotificationsRead: result } = await ctx.api.query(MARK_READ, { ids });
      if (result.errors.length) {
        status.textContent = result.errors.map((e) => e.message).join(" ");
        return;
      }
      const now = new Date().toISOString();
      for (const id of ids) {
        const item = items.get(id);
        if (!item) continue;
        if (unreadOnly) {
          item.li.remove();
          items.delete(id);
        } else {
          put({ ...item.note, readAt: item.note.readAt || now });
        }
      }
      await refreshCount();
      showEmpty();
      ctx.announce(ids.length === 1 ? "Marked read." : `Marked ${ids.length} read.`);
      // The button that was pressed is gone: keep the keyboard in the list.
      if (!el.contains(document.activeElement) || document.activeElement === document.body) {
        (list.querySelector("button") || markAll).focus();
      }
    } catch (err) {
      status.textContent = err.message;
    }
  }

  async function markAllRead() {
    markAll.disabled = true;
    try {
      const ids = [];
      let after = null;
      for (let page = 0; page < MAX_ID_PAGES; page += 1) {
        const { notifications } = await ctx.api.query(UNREAD_IDS, { after });
        ids.push(...notifications.nodes.map((n) => n.id));
        if (!notifications.pageInfo.hasNextPage) break;
        after = notifications.pageInfo.endCursor;
      }
      await markRead(ids);
    } catch (err) {
      status.textContent = err.message;
    }
  }

  const off = ctx.onNotification((note) => {
    if (closed) return;
    if (note === null) {
      catchUp();
      return;
    }
    if (items.has(note.id)) return;
    put({ readAt: null, ...note }, { top: true, fresh: true });
    showEmpty();
    // The shell counted it in the badge already; the page's own count follows.
    refreshCount().catch(() => {});
  });

  loadPage();
  return () => {
    closed = true;
    off();
  };
}
