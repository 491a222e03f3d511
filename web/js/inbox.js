// The lead inbox: tabs with badge counts, filters and saved views (all in the URL), the list
// with the heart and the flame, paging, live updates. mount(el, ctx): see app.js.
//
// URL: #/inbox/<TAB>?view=<id>&type=&stage=&outcome=&q=&from=YYYY-MM-DD&to=YYYY-MM-DD
//      &owner=me|unassigned&order=<LeadOrder>. A saved view supplies its whole filter; the URL's
//      own parameters override the fields they name.

import {
  clear,
  enumValues,
  errorAt,
  field,
  formatCountdown,
  formatDate,
  formErrorBox,
  h,
  humanize,
  showFormErrors,
} from "./ui.js";

export const ROW_FIELDS = `
  id version type tab stage outcome receivedAt respondBy timeLeftToRespond contactAlert
  isFavorite customer { companyName need contactRequested } owner { id name }`;
const LIST = `query InboxLeads($tab: LeadTab!, $filter: LeadFilter, $orderBy: LeadOrder!, $after: String) {
  leads(tab: $tab, filter: $filter, orderBy: $orderBy, first: 25, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { ${ROW_FIELDS} }
  }
}`;
const ROW = `query InboxRow($id: ID!) { lead(id: $id) { ${ROW_FIELDS} } }`;
const COUNTS = `query LeadCounts { leadCounts { tab stage count } }`;
const VIEWS = `query LeadViews { leadViews { id name tab orderBy filter valid shared mine ownerName } }`;
const FAVORITE = `mutation SetFavorite($input: SetLeadFavoriteInput!) {
  setLeadFavorite(input: $input) { lead { ${ROW_FIELDS} } errors { code field message } }
}`;
const SAVE_VIEW = `mutation SaveLeadView($input: SaveLeadViewInput!) {
  saveLeadView(input: $input) { view { id name } errors { code field message } }
}`;
const DELETE_VIEW = `mutation DeleteLeadView($input: DeleteLeadViewInput!) {
  deleteLeadView(input: $input) { deletedId errors { code field message } }
}`;

const TABS = [
  ["MARKETPLACE", "Marketplace"],
  ["QUALIFIED", "Qualified"],
  ["FAVORITES", "Favorites"],
];
// URL parameter ↔ LeadFilter field (lists hold one value in the URL).
const LIST_PARAMS = { type: "types", stage: "stages", outcome: "outcomes" };
let filtersOpen = false;
let focusTab = false;

// The lead pane (lead.js) tells the list about changes it made: {detail: lead}.
export const LEAD_CHANGED = "partner-leads:lead-changed";

function dayStart(date) {
  return new Date(`${date}T00:00:00`).toISOString();
}

function nextDay(date) {
  const d = new Date(`${date}T00:00:00`);
  d.setDate(d.getDate() + 1);
  return d.toISOString();
}

// The filter and order the URL (and its saved view, if any) stand for.
export function filterFrom(params, view) {
  const filter = view && view.valid ? { ...view.filter } : {};
  for (const [param, key] of Object.entries(LIST_PARAMS)) {
    delete filter[key];
    if (params.get(param)) filter[key] = [params.get(param)];
  }
  delete filter.search;
  if (params.get("q")) filter.search = params.get("q");
  delete filter.receivedFrom;
  delete filter.receivedTo;
  if (params.get("from")) filter.receivedFrom = dayStart(params.get("from"));
  if (params.get("to")) filter.receivedTo = nextDay(params.get("to"));
  delete filter.assignedToMe;
  delete filter.unassigned;
  if (params.get("owner") === "me") filter.assignedToMe = true;
  if (params.get("owner") === "unassigned") filter.unassigned = true;
  const orderBy = params.get("order") || (view ? view.orderBy : "RECEIVED_AT_DESC");
  return { filter, orderBy };
}

// The URL parameters a saved view's filter stands for.
function paramsOf(view) {
  const params = new URLSearchParams({ view: view.id });
  const f = view.filter || {};
  for (const [param, key] of Object.entries(LIST_PARAMS)) {
    if (Array.isArray(f[key]) && f[key].length === 1) params.set(param, f[key][0]);
  }
  if (f.search) params.set("q", f.search);
  if (f.assignedToMe) params.set("owner", "me");
  if (f.unassigned) params.set("owner", "unassigned");
  if (view.orderBy) params.set("order", view.orderBy);
  return params;
}

function hashFor(tab, params) {
  const query = params.toString();
  return `#/inbox/${tab}${query ? `?${query}` : ""}`;
}

function stageLabel(lead) {
  return lead.outcome ? `${humanize(lead.stage)} · ${humanize(lead.outcome)}` : humanize(lead.stage);
}

export function flame(alert) {
  if (!alert) return null;
  return alert === "URGENT"
    ? h("span", { class: "flame urgent" }, "Contact now: urgent")
    : h("span", { class: "flame reminder" }, "Customer asked to be contacted");
}

export function mount(el, ctx) {
  const params = ctx.route.params;
  const tab = TABS.some(([t]) => t === ctx.route.segments[0]) ? ctx.route.segments[0] : "MARKETPLACE";
  const rows = new Map(); // lead id → {lead, li}
  let views = [];
  let cursor = null;
  let query = null; // {filter, orderBy} once the views are known
  let closed = false;

  const status = h("p", { class: "meta", role: "status" });
  const list = h("ul", { class: "lead-list", "aria-label": "Leads" });
  const more = h("button", { type: "button", class: "more", hidden: true, onclick: () => loadPage() }, "Load more");
  const tabButtons = TABS.map(([value, label]) =>
    h(
      "button",
      {
        type: "button",
        role: "tab",
        id: `tab-${value}`,
        "aria-selected": value === tab ? "true" : "false",
        "aria-controls": "inbox-panel",
        tabindex: value === tab ? "0" : "-1",
        dataset: { tab: value },
        onclick: () => ctx.navigate(hashFor(value, keepFilters())),
        onkeydown: (event) => moveTab(event, value),
      },
      label,
      h("span", { class: "count", dataset: { count: value } }, "…"),
    ),
  );
  const viewBox = h("div", { class: "views" });
  const stageCounts = h("p", { class: "meta stage-counts" });
  // The filter form is built when the box first opens: its option lists cost a query each.
  let filtersBuilt = false;
  const filterBox = h(
    "details",
    {
      class: "filter-box",
      open: filtersOpen,
      ontoggle: (e) => {
        filtersOpen = e.target.open;
        if (filtersOpen && query && !filtersBuilt) {
          filtersBuilt = true;
          renderFilters();
        }
      },
    },
    h("summary", {}, "Filters"),
  );
  el.append(
    h("h1", {}, "Lead inbox"),
    h("div", { role: "tablist", "aria-label": "Lead tabs" }, tabButtons),
    h("div", { role: "tabpanel", id: "inbox-panel", "aria-labelledby": `tab-${tab}` }, stageCounts, viewBox, filterBox, status, list, more),
  );
  if (focusTab) {
    focusTab = false;
    el.querySelector(`#tab-${tab}`).focus();
  }

  function keepFilters() {
    const kept = new URLSearchParams(params);
    kept.delete("view");
    return kept;
  }

  function moveTab(event, value) {
    const order = TABS.map(([t]) => t);
    let index = order.indexOf(value);
    if (event.key === "ArrowRight") index = (index + 1) % order.length;
    else if (event.key === "ArrowLeft") index = (index + order.length - 1) % order.length;
    else if (event.key === "Home") index = 0;
    else if (event.key === "End") index = order.length - 1;
    else return;
    event.preventDefault();
    focusTab = true;
    ctx.navigate(hashFor(order[index], keepFilters()));
  }

  async function loadCounts() {
    try {
      const { leadCounts } = await ctx.api.query(COUNTS);
      for (const [value, label] of TABS) {
        const waiting = leadCounts
          .filter((c) => c.tab === value && c.stage === "RECEIVED")
          .reduce((sum, c) => sum + c.count, 0);
        const badge = el.querySelector(`[data-count="${value}"]`);
        badge.textContent = String(waiting);
        badge.title = `${waiting} waiting for an answer`;
        el.querySelector(`#tab-${value}`).setAttribute("aria-label", `${label}, ${waiting} new`);
      }
      stageCounts.textContent = leadCounts
        .filter((c) => c.tab === tab)
        .map((c) => `${humanize(c.stage)}: ${c.count}`)
        .join(" · ");
    } catch (err) {
      status.textContent = err.message;
    }
  }

  function renderRow(lead) {
    const existing = rows.get(lead.id);
    const li = h(
      "li",
      { class: "lead-row", dataset: { leadId: lead.id } },
      h(
        "div",
        {},
        h("a", { class: "row-open row-title", href: `#/lead/${encodeURIComponent(lead.id)}` }, lead.customer.companyName),
        h("p", { class: "row-need" }, lead.customer.need || "Need not recorded"),
        h(
          "p",
          { class: "row-meta" },
          h("span", {}, `Received ${formatDate(lead.receivedAt)}`),
          h("span", { class: "pill stage" }, stageLabel(lead)),
          lead.timeLeftToRespond !== null && lead.timeLeftToRespond !== undefined
            ? h("span", { class: lead.timeLeftToRespond > 0 ? "countdown" : "countdown overdue", title: `Respond by ${formatDate(lead.respondBy)}` }, formatCountdown(lead.timeLeftToRespond))
            : null,
          h("span", { class: "owner" }, lead.owner ? `Owner: ${lead.owner.name}` : "Unassigned"),
        ),
      ),
      h(
        "div",
        { class: "row-side" },
        h(
          "button",
          {
            type: "button",
            class: "heart",
            "aria-pressed": lead.isFavorite ? "true" : "false",
            "aria-label": `Favorite: ${lead.customer.companyName}`,
            onclick: () => toggleFavorite(lead),
          },
          h("span", { "aria-hidden": "true" }, lead.isFavorite ? "♥" : "♡"),
        ),
        flame(lead.contactAlert),
      ),
    );
    if (existing) existing.li.replaceWith(li);
    rows.set(lead.id, { lead, li });
    return li;
  }

  async function toggleFavorite(lead) {
    try {
      const { setLeadFavorite } = await ctx.api.query(FAVORITE, {
        input: { id: lead.id, favorite: !lead.isFavorite },
      });
      if (setLeadFavorite.errors.length) {
        ctx.announce(setLeadFavorite.errors[0].message);
        return;
      }
      const updated = setLeadFavorite.lead;
      renderRow(updated);
      rows.get(updated.id).li.querySelector(".heart").focus();
      ctx.announce(updated.isFavorite ? `${updated.customer.companyName} added to Favorites` : `${updated.customer.companyName} removed from Favorites`);
      loadCounts();
    } catch (err) {
      ctx.announce(err.message);
    }
  }

  async function loadPage(reset = false) {
    if (reset) {
      cursor = null;
      rows.clear();
      clear(list);
    }
    status.textContent = "Loading leads…";
    try {
      const { leads } = await ctx.api.query(LIST, { tab, ...query, after: cursor });
      if (closed) return;
      for (const lead of leads.nodes) list.append(renderRow(lead));
      cursor = leads.pageInfo.endCursor;
      more.hidden = !leads.pageInfo.hasNextPage;
      status.textContent = leads.totalCount
        ? `Showing ${rows.size} of ${leads.totalCount} leads`
        : "No leads match.";
      markOpen();
    } catch (err) {
      status.textContent = err.message;
    }
  }

  // The open lead's row is marked (the pane beside it says which lead it shows).
  function markOpen() {
    const open = location.hash.startsWith("#/lead/") ? decodeURIComponent(location.hash.slice(7)) : null;
    for (const [id, { li }] of rows) li.classList.toggle("open", id === open);
  }

  async function refreshRow(leadId, { flash }) {
    try {
      const { lead } = await ctx.api.query(ROW, { id: leadId });
      if (closed || !lead || !rows.has(leadId)) return;
      const li = renderRow(lead);
      markOpen();
      if (flash) li.classList.add("changed");
    } catch (err) {
      // The next event or a reload shows it.
    }
  }

  function onEvent(event) {
    if (!event) {
      // Reconnected: anything may have changed meanwhile.
      loadCounts();
      loadPage(true);
      return;
    }
    loadCounts();
    const known = rows.get(event.leadId);
    if (!known) return;
    const version = event.current && event.current.version;
    if (version && version <= known.lead.version) return; // what we already show
    refreshRow(event.leadId, { flash: true }).then(() => {
      const row = rows.get(event.leadId);
      if (row && row.lead.version > known.lead.version) {
        ctx.announce(`${row.lead.customer.companyName} changed: now ${stageLabel(row.lead)}`);
      }
    });
  }

  function onOwnChange(event) {
    const lead = event.detail;
    if (lead && rows.has(lead.id)) {
      const known = rows.get(lead.id).lead;
      renderRow({ ...known, ...pick(lead) });
      markOpen();
    }
    loadCounts();
  }

  function pick(lead) {
    const out = {};
    for (const key of ["version", "stage", "outcome", "timeLeftToRespond", "respondBy", "contactAlert", "isFavorite", "owner"]) {
      if (key in lead) out[key] = lead[key];
    }
    if (lead.customer) out.customer = { ...rows.get(lead.id).lead.customer, ...lead.customer };
    return out;
  }

  async function renderViews() {
    clear(viewBox);
    if (!ctx.viewer.canManageLeads || !ctx.viewer.user.email) return; // API keys have no views
    const current = params.get("view") || "";
    const select = field("Saved view", "view", {
      kind: "select",
      value: current,
      options: [{ value: "", label: "None" }, ...views.map((v) => ({ value: v.id, label: v.mine ? v.name : `${v.name} (${v.ownerName})` }))],
    });
    select.querySelector("select").addEventListener("change", (event) => {
      const view = views.find((v) => v.id === event.target.value);
      ctx.navigate(view ? hashFor(view.tab, paramsOf(view)) : hashFor(tab, keepFilters()));
    });
    viewBox.append(select);
    const chosen = views.find((v) => v.id === current);
    if (chosen && chosen.mine) {
      viewBox.append(h("button", { type: "button", class: "danger", onclick: () => deleteView(chosen) }, `Delete view “${chosen.name}”`));
    }
    if (chosen && !chosen.valid) viewBox.append(h("p", { class: "notice" }, "This view's filter no longer applies: save it again."));
  }

  // Inside the Filters box: saving what the filters show.
  function saveViewForm() {
    if (!ctx.viewer.canManageLeads || !ctx.viewer.user.email) return null;
    const form = h(
      "form",
      { class: "views save-view", novalidate: true, "aria-label": "Save as a view" },
      formErrorBox(),
      field("New view name", "name", { required: true, maxlength: 100 }),
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "shared" }), " Share with my team"),
      h("button", { type: "submit" }, "Save current view"),
    );
    form.addEventListener("submit", (event) => saveView(event, form));
    return form;
  }

  async function saveView(event, form) {
    event.preventDefault();
    const name = form.elements.name.value.trim();
    if (!name) {
      showFormErrors(form, [{ field: "name", message: "Give the view a name." }]);
      return;
    }
    const input = { name, tab, filter: query.filter, orderBy: query.orderBy, shared: form.elements.shared.checked };
    try {
      const { saveLeadView } = await ctx.api.query(SAVE_VIEW, { input });
      if (showFormErrors(form, saveLeadView.errors.map(errorAt))) return;
      ctx.announce(`Saved view ${saveLeadView.view.name}`);
      const next = keepFilters();
      next.set("view", saveLeadView.view.id);
      ctx.navigate(hashFor(tab, next));
    } catch (err) {
      showFormErrors(form, [{ message: err.message }]);
    }
  }

  async function deleteView(view) {
    try {
      const { deleteLeadView } = await ctx.api.query(DELETE_VIEW, { input: { id: view.id } });
      if (deleteLeadView.errors.length) {
        ctx.announce(deleteLeadView.errors[0].message);
        return;
      }
      ctx.announce(`Deleted view ${view.name}`);
      ctx.navigate(hashFor(tab, keepFilters()));
    } catch (err) {
      ctx.announce(err.message);
    }
  }

  async function renderFilters() {
    const [types, stages, outcomes, orders] = await Promise.all(
      ["LeadType", "LeadStage", "LeadOutcome", "LeadOrder"].map((name) => enumValues(ctx.api, name).catch(() => [])),
    );
    if (closed) return;
    const any = (label) => [{ value: "", label }];
    const form = h(
      "form",
      { class: "filters", novalidate: true },
      field("Type", "type", { kind: "select", value: params.get("type") || "", options: [...any("Any type"), ...types] }),
      field("Stage", "stage", { kind: "select", value: params.get("stage") || "", options: [...any("Any stage"), ...stages] }),
      field("Outcome", "outcome", { kind: "select", value: params.get("outcome") || "", options: [...any("Any outcome"), ...outcomes] }),
      field("Search", "q", { kind: "search", value: params.get("q") || "", hint: "Company, contact, deal or need" }),
      field("Received from", "from", { kind: "date", value: params.get("from") || "" }),
      field("Received until", "to", { kind: "date", value: params.get("to") || "" }),
      field("Owner", "owner", {
        kind: "select",
        value: params.get("owner") || "",
        options: [
          { value: "", label: "Anyone" },
          { value: "me", label: "Assigned to me" },
          { value: "unassigned", label: "Unassigned" },
        ],
      }),
      field("Order", "order", { kind: "select", value: query.orderBy, options: orders }),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "submit", class: "primary" }, "Apply filters"),
        h("button", { type: "button", onclick: () => ctx.navigate(hashFor(tab, new URLSearchParams())) }, "Clear filters"),
      ),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const next = new URLSearchParams();
      if (params.get("view")) next.set("view", params.get("view"));
      for (const name of ["type", "stage", "outcome", "q", "from", "to", "owner", "order"]) {
        const value = form.elements[name].value.trim();
        if (value) next.set(name, value);
      }
      filtersOpen = true;
      ctx.navigate(hashFor(tab, next));
    });
    filterBox.append(form);
    const save = saveViewForm();
    if (save) filterBox.append(save);
  }

  async function start() {
    if (ctx.viewer.canManageLeads && ctx.viewer.user.email) {
      try {
        views = (await ctx.api.query(VIEWS)).leadViews;
      } catch (err) {
        views = [];
      }
    }
    if (closed) return;
    query = filterFrom(params, views.find((v) => v.id === params.get("view")));
    renderViews();
    if (filtersOpen) {
      filtersBuilt = true;
      renderFilters();
    }
    loadCounts();
    await loadPage(true);
  }

  start();
  const offEvents = ctx.onLeadEvent(onEvent);
  document.addEventListener(LEAD_CHANGED, onOwnChange);
  window.addEventListener("hashchange", markOpen);
  return () => {
    closed = true;
    offEvents();
    document.removeEventListener(LEAD_CHANGED, onOwnChange);
    window.removeEventListener("hashchange", markOpen);
  };
}
