// The shell: sign-in, the header, the hash router, the live feeds.
//
// Every page module exports `mount(el, ctx)`: it renders into `el` (a <section> it owns) and
// may return a cleanup function, called before the route leaves it. `ctx` is:
//   api              Api (api.js): query(doc, variables), subscribe(doc, variables, handlers)
//   viewer           {user {id name email}, organisation {id slug name kind}, roles,
//                     canManageLeads, locale, timeZone} — read once at sign-in
//   route            {name, segments, params}: "#/inbox/QUALIFIED?stage=ACCEPTED" is
//                     {name: "inbox", segments: ["QUALIFIED"], params: URLSearchParams}
//   navigate(hash, {replace})  go to "#/..." (replace: no new history entry)
//   announce(text)   polite screen-reader message (ui.js)
//   setUnreadCount(n)          the header's notifications badge
//   onLeadEvent(fn)  fn(event) for each `leadEvents` event, fn(null) after a reconnect (re-read:
//                     events may have been missed); returns unsubscribe
//   onNotification(fn)         fn(notification) for each new `notificationAdded`, fn(null)
//                     after a reconnect; returns unsubscribe
//   inboxHash()      the hash of the inbox list last shown (where "back" from a lead goes)
// Routes: #/inbox/<TAB>[?view=<id>&filters], #/lead/<id> (the pane beside the list),
// #/pipeline, #/notifications, #/settings.

import { Api } from "./api.js";
import { announce, clear, h, setPreferences } from "./ui.js";

const TOKEN_KEY = "partner-leads.token";
const DEFAULT_HASH = "#/inbox/MARKETPLACE";
const VIEWER = `query Viewer {
  viewer {
    user { id name email }
    organisation { id slug name kind }
    roles canManageLeads locale timeZone
  }
}`;
const UNREAD = `query UnreadCount { notifications(first: 1, unreadOnly: true) { unreadCount } }`;
const NOTIFICATION_ADDED = `subscription NotificationAdded {
  notificationAdded { id kind title body leadId createdAt readAt }
}`;
const LEAD_EVENTS = `subscription LeadEvents {
  leadEvents {
    eventId type leadId occurredAt
    previous { stage outcome version }
    current { stage outcome version }
  }
}`;

const PAGES = {
  pipeline: () => import("./pipeline.js"),
  notifications: () => import("./notifications.js"),
  settings: () => import("./settings.js"),
};
const NAV = [
  ["inbox", "Inbox"],
  ["pipeline", "Pipeline"],
  ["notifications", "Notifications"],
  ["settings", "Settings"],
];

const main = document.getElementById("main");
const header = document.getElementById("app-header");

let session = null; // {api, viewer, ctx, unsubscribe[]}
let mounted = {}; // {page: {name, cleanup}, inbox: {hash, cleanup}, lead: {id, cleanup}}
let lastInboxHash = DEFAULT_HASH;
let renderToken = 0;

export function parseRoute(hash) {
  const raw = (hash || "").replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  const segments = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { name: segments.shift() || "", segments, params: new URLSearchParams(query) };
}

function takeTokenFromFragment() {
  const match = location.hash.match(/^#token=([^&]+)$/);
  if (!match) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
  // The token leaves the address bar (and the history) at once.
  history.replaceState(null, "", `${location.pathname}${location.search}${DEFAULT_HASH}`);
}

function navigate(hash, { replace = false } = {}) {
  if (replace) {
    history.replaceState(null, "", hash);
    render();
  } else if (location.hash === hash) {
    render();
  } else {
    location.hash = hash;
  }
}

function listeners() {
  const set = new Set();
  return {
    add(fn) {
      set.add(fn);
      return () => set.delete(fn);
    },
    emit(value) {
      for (const fn of set) fn(value);
    },
  };
}

// --- Sign-in ---------------------------------------------------------------------------------

function showSignIn(message) {
  header.hidden = true;
  clear(header);
  clear(main);
  const input = h("input", {
    id: "credential",
    name: "credential",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    "aria-describedby": "credential-hint",
  });
  const errors = h("div", { class: "form-errors", role: "alert", tabindex: "-1", hidden: !message }, message || "");
  const form = h(
    "form",
    { class: "sign-in card", novalidate: true },
    h("h1", {}, "Sign in to Partner leads"),
    errors,
    h(
      "div",
      { class: "field" },
      h("label", { for: "credential" }, "Bearer token or API key"),
      input,
      h(
        "p",
        { class: "hint", id: "credential-hint" },
        "Paste a token (make run prints one) or an API key. It is kept in this tab only.",
      ),
    ),
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const credential = input.value.trim();
    if (!credential) {
      errors.hidden = false;
      errors.textContent = "Paste a token or an API key.";
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, credential);
    await boot(credential);
  });
  main.append(form);
  input.focus();
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  unmountAll();
  if (session) {
    for (const off of session.unsubscribe) off();
    session.api.close();
  }
  session = null;
  showSignIn(message);
}

async function boot(token) {
  let expired = false;
  const api = new Api(token, {
    onUnauthenticated: () => {
      if (expired) return;
      expired = true;
      signOut("That token or API key was refused (wrong, expired or revoked). Sign in again.");
    },
  });
  let viewer;
  try {
    viewer = (await api.query(VIEWER)).viewer;
  } catch (err) {
    if (!expired) signOut(err.message);
    return;
  }
  if (!viewer) {
    signOut("That token or API key was not accepted.");
    return;
  }
  setPreferences(viewer);
  const leadEvents = listeners();
  const notifications = listeners();
  const ctx = {
    api,
    viewer,
    route: parseRoute(location.hash),
    navigate,
    announce,
    setUnreadCount,
    onLeadEvent: leadEvents.add,
    onNotification: notifications.add,
    inboxHash: () => lastInboxHash,
  };
  session = { api, viewer, ctx, unsubscribe: [] };
  renderHeader(viewer);
  refreshUnread();
  session.unsubscribe.push(
    api.subscribe(LEAD_EVENTS, {}, {
      // A refused subscription (a seller or marketer follows no leads) sends data: null.
      next: (data) => data && data.leadEvents && leadEvents.emit(data.leadEvents),
      reconnected: () => leadEvents.emit(null),
      error: () => {},
    }),
  );
  if (viewer.user && !isApiKey(viewer)) {
    const seen = new Set();
    session.unsubscribe.push(
      api.subscribe(NOTIFICATION_ADDED, {}, {
        next: (data) => {
          const n = data && data.notificationAdded;
          if (!n || seen.has(n.id)) return;
          seen.add(n.id);
          setUnreadCount(unread + 1);
          announce(`New notification: ${n.title}`);
          notifications.emit(n);
        },
        reconnected: () => {
          refreshUnread();
          notifications.emit(null);
        },
        error: () => {},
      }),
    );
  }
  if (!location.hash.startsWith("#/")) history.replaceState(null, "", DEFAULT_HASH);
  await render();
}

function isApiKey(viewer) {
  // An API key's viewer has no person behind it: the API names it by the key (README).
  return !viewer.user || !viewer.user.email;
}

// --- Header ----------------------------------------------------------------------------------

let unread = 0;
let badge = null;

function setUnreadCount(n) {
  unread = Math.max(0, n || 0);
  if (!badge) return;
  clear(badge);
  badge.hidden = unread === 0;
  badge.append(String(unread), h("span", { class: "visually-hidden" }, " unread"));
}

async function refreshUnread() {
  if (!session) return;
  try {
    const data = await session.api.query(UNREAD);
    setUnreadCount(data.notifications.unreadCount);
  } catch (err) {
    // The badge is a convenience: the notifications page says what went wrong.
  }
}

function renderHeader(viewer) {
  clear(header);
  badge = h("span", { class: "badge", hidden: true });
  const skip = h(
    "button",
    { type: "button", class: "skip-link", onclick: () => main.focus() },
    "Skip to content",
  );
  const links = NAV.map(([name, label]) =>
    h(
      "li",
      {},
      h(
        "a",
        { href: name === "inbox" ? DEFAULT_HASH : `#/${name}`, dataset: { nav: name } },
        label,
        name === "notifications" ? badge : null,
      ),
    ),
  );
  header.append(
    skip,
    h(
      "div",
      { class: "brand" },
      h("span", { class: "brand-name" }, "Partner leads"),
      h("span", { class: "brand-org" }, viewer.organisation.name),
    ),
    h("nav", { "aria-label": "Main" }, h("ul", {}, links)),
    h(
      "div",
      { class: "who" },
      h("span", { class: "who-name" }, viewer.user ? viewer.user.name : ""),
      h("button", { type: "button", onclick: () => signOut("You are signed out.") }, "Sign out"),
    ),
  );
  header.hidden = false;
}

function markNav(name) {
  for (const link of header.querySelectorAll("nav a")) {
    const current = link.dataset.nav === name || (name === "lead" && link.dataset.nav === "inbox");
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

// --- Routing ---------------------------------------------------------------------------------

// mount() may return its cleanup function, or a promise of it (an async mount).
function cleanup(entry) {
  if (!entry) return;
  Promise.resolve(entry.cleanup).then((fn) => {
    if (typeof fn === "function") fn();
  });
}

function unmountAll() {
  cleanup(mounted.page);
  cleanup(mounted.inbox);
  cleanup(mounted.lead);
  mounted = {};
}

function workspace() {
  let ws = main.querySelector(":scope > .workspace");
  if (!ws) {
    clear(main);
    ws = h(
      "div",
      { class: "workspace" },
      h("section", { class: "list-pane", "aria-label": "Leads" }),
      h("section", { class: "detail-pane", "aria-label": "Lead details", hidden: true }),
    );
    main.append(ws);
  }
  return ws;
}

async function render() {
  if (!session) return;
  const token = ++renderToken;
  const route = parseRoute(location.hash);
  const ctx = session.ctx;
  ctx.route = route;
  markNav(route.name);
  if (route.name === "inbox" || route.name === "lead") {
    if (mounted.page) {
      cleanup(mounted.page);
      mounted = {};
    }
    const ws = workspace();
    const list = ws.querySelector(".list-pane");
    const detail = ws.querySelector(".detail-pane");
    const inboxHash = route.name === "inbox" ? location.hash : lastInboxHash;
    lastInboxHash = inboxHash;
    if (!mounted.inbox || mounted.inbox.hash !== inboxHash) {
      cleanup(mounted.inbox);
      const inbox = await import("./inbox.js");
      if (token !== renderToken) return;
      clear(list);
      mounted.inbox = { hash: inboxHash, cleanup: inbox.mount(list, { ...ctx, route: parseRoute(inboxHash) }) };
    }
    const leadId = route.name === "lead" ? route.segments[0] : null;
    if (!leadId || (mounted.lead && mounted.lead.id !== leadId)) {
      const closing = mounted.lead;
      cleanup(closing);
      mounted.lead = null;
      clear(detail);
      detail.hidden = true;
      ws.classList.remove("has-detail");
      if (closing && !leadId) focusRow(list, closing.id);
    }
    if (leadId && !mounted.lead) {
      const lead = await import("./lead.js");
      if (token !== renderToken) return;
      detail.hidden = false;
      ws.classList.add("has-detail");
      mounted.lead = { id: leadId, cleanup: lead.mount(detail, { ...ctx, route }) };
    }
    return;
  }
  const load = PAGES[route.name];
  if (!load) {
    navigate(DEFAULT_HASH, { replace: true });
    return;
  }
  unmountAll();
  const page = await load();
  if (token !== renderToken) return;
  clear(main);
  const el = h("section", { class: `page page-${route.name}` });
  main.append(el);
  mounted.page = { name: route.name, cleanup: page.mount(el, ctx) };
}

// Back from a lead: focus returns to its row (when the list still shows it).
function focusRow(list, leadId) {
  const row = list.querySelector(`[data-lead-id="${CSS.escape(leadId)}"] .row-open`);
  if (row) row.focus();
}

window.addEventListener("hashchange", () => render());

takeTokenFromFragment();
const stored = sessionStorage.getItem(TOKEN_KEY);
if (stored) boot(stored);
else showSignIn();
