// The pipeline page (R14): `pipeline(filter, groupBy)` as charts, each with its table.
// mount(el, ctx): see app.js. Filters live in the URL: #/pipeline?from=2026-01-01&to=2026-07-01
// &type=SALES_QUALIFIED&source=MARKETPLACE&audience=SENT (dates are UTC days; `to` is the first
// day not counted, as the API's filter has it). What the viewer sees is what the API answers
// them: a partner's lead managers their received leads, a sender what it sent.

import { barChart, columnChart, dataTable, legend } from "./charts.js";
import { clear, clearFormErrors, enumValues, field, formErrorBox, formatMoney, h, humanize, showFormErrors } from "./ui.js";
import { formatHours, formatPercent, queryErrors, useViewsStyles } from "./views.js";

const FIGURES = `received accepted declined expired won lost acceptanceRate winRate
  medianResponseHours p90ResponseHours
  estimatedValue { amount currency } wonValue { amount currency }`;
// Two groupings, two aliases of one request: grouping by [MONTH, TYPE] at once would give
// month × type groups, not the two breakdowns.
const PIPELINE = `query Pipeline($filter: PipelineFilter) {
  byMonth: pipeline(filter: $filter, groupBy: [MONTH]) {
    overall { ${FIGURES} }
    groups { key { month } figures { ${FIGURES} } }
  }
  byType: pipeline(filter: $filter, groupBy: [TYPE]) {
    groups { key { type } figures { ${FIGURES} } }
  }
}`;

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const FUNNEL = [
  ["received", "Received", "bar-received"],
  ["accepted", "Accepted", "bar-accepted"],
  ["won", "Won", "bar-won"],
  ["lost", "Lost", "bar-lost"],
  ["declined", "Declined", "bar-declined"],
  ["expired", "Expired", "bar-expired"],
];
const SERIES = [
  { key: "received", label: "Received", cls: "bar-received" },
  { key: "accepted", label: "Accepted", cls: "bar-accepted" },
  { key: "won", label: "Won", cls: "bar-won" },
];

// After "Apply" the page mounts again (the URL changed): focus goes to the new figures.
let focusResults = false;

// The API's filter from the URL's parameters (unknown or malformed ones are left out).
export function filterFrom(params) {
  const filter = {};
  const from = params.get("from");
  const to = params.get("to");
  if (from && DAY.test(from)) filter.from = `${from}T00:00:00Z`;
  if (to && DAY.test(to)) filter.to = `${to}T00:00:00Z`;
  if (params.get("type")) filter.types = [params.get("type")];
  if (params.get("source")) filter.sources = [params.get("source")];
  if (params.get("audience")) filter.audience = params.get("audience");
  return filter;
}

function moneyList(amounts) {
  return amounts && amounts.length ? amounts.map(formatMoney).join(", ") : "—";
}

function monthLabel(month, locale, style = "short") {
  const date = new Date(`${month}-01T00:00:00Z`);
  try {
    return new Intl.DateTimeFormat(locale || undefined, { month: style, year: "numeric", timeZone: "UTC" }).format(date);
  } catch (err) {
    return month;
  }
}

// Every month from the first to the last the API counted, the empty ones as zeros: bars over
// time keep their spacing.
function monthSeries(groups) {
  const found = new Map(groups.filter((g) => g.key.month).map((g) => [g.key.month, g.figures]));
  if (!found.size) return [];
  const months = [...found.keys()].sort();
  const [y0, m0] = months[0].split("-").map(Number);
  const [y1, m1] = months[months.length - 1].split("-").map(Number);
  const out = [];
  for (let y = y0, m = m0; y < y1 || (y === y1 && m <= m1); m === 12 ? ((y += 1), (m = 1)) : (m += 1)) {
    const key = `${y}-${String(m).padStart(2, "0")}`;
    out.push({ month: key, figures: found.get(key) || null });
  }
  return out;
}

const ZERO = { received: 0, accepted: 0, declined: 0, expired: 0, won: 0, lost: 0, acceptanceRate: null, winRate: null, estimatedValue: [], wonValue: [] };

function section(title, ...children) {
  const id = `pipeline-${title.toLowerCase().replace(/\W+/g, "-")}`;
  return h("section", { class: "pipeline-part card", "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

function figuresTable(caption, firstColumn, rows, locale) {
  return dataTable({
    caption,
    columns: [
      { label: firstColumn },
      ...["Received", "Accepted", "Won", "Lost", "Declined", "Expired"].map((label) => ({ label, numeric: true })),
      { label: "Acceptance rate", numeric: true },
      { label: "Win rate", numeric: true },
      { label: "Estimated value" },
      { label: "Won value" },
    ],
    rows: rows.map(([name, f]) => [
      name,
      ...["received", "accepted", "won", "lost", "declined", "expired"].map((k) => String(f[k])),
      formatPercent(f.acceptanceRate, locale),
      formatPercent(f.winRate, locale),
      moneyList(f.estimatedValue),
      moneyList(f.wonValue),
    ]),
  });
}

function funnel(overall) {
  const summary = FUNNEL.map(([key, name]) => `${overall[key]} ${name.toLowerCase()}`).join(", ");
  return section(
    "Funnel",
    barChart({
      label: `Funnel: ${summary}.`,
      rows: FUNNEL.map(([key, name, cls]) => ({ label: name, value: overall[key], cls })),
      className: "funnel-chart",
    }),
    h(
      "details",
      { class: "chart-table" },
      h("summary", {}, "Funnel as a table"),
      dataTable({
        caption: "Funnel",
        columns: [{ label: "Stage" }, { label: "Leads", numeric: true }],
        rows: FUNNEL.map(([key, name]) => [name, String(overall[key])]),
      }),
    ),
  );
}

function rates(overall, locale) {
  const answered = overall.accepted + overall.declined;
  const closed = overall.won + overall.lost;
  const item = (label, value, note) =>
    h("div", { class: "stat" }, h("dt", {}, label), h("dd", {}, h("span", { class: "stat-value" }, value), note ? h("span", { class: "stat-note" }, note) : null));
  return section(
    "Rates and response times",
    h(
      "dl",
      { class: "stats" },
      item("Acceptance rate", formatPercent(overall.acceptanceRate, locale), `${overall.accepted} accepted of ${answered} answered`),
      item("Win rate", formatPercent(overall.winRate, locale), `${overall.won} won of ${closed} closed`),
      item("Median response", formatHours(overall.medianResponseHours, locale), "from received to accepted or declined"),
      item("90th percentile response", formatHours(overall.p90ResponseHours, locale), null),
      item("Expired", String(overall.expired), "never answered in time; not in the acceptance rate"),
    ),
  );
}

// One row per currency: amounts in different currencies are never added together.
function values(overall) {
  const currencies = [...new Set([...overall.estimatedValue, ...overall.wonValue].map((m) => m.currency))].sort();
  const amount = (list, currency) => {
    const found = list.find((m) => m.currency === currency);
    return found ? formatMoney(found) : "—";
  };
  return section(
    "Value per currency",
    currencies.length
      ? dataTable({
          caption: "Estimated value of accepted leads and final value of won leads, per currency",
          columns: [{ label: "Currency" }, { label: "Estimated (accepted)", numeric: true }, { label: "Won", numeric: true }],
          rows: currencies.map((c) => [c, amount(overall.estimatedValue, c), amount(overall.wonValue, c)]),
        })
      : h("p", {}, "No accepted lead has a value in this range."),
    h("p", { class: "meta" }, "Each currency is summed on its own; amounts are never converted."),
  );
}

function byMonth(groups, locale) {
  const months = monthSeries(groups);
  if (!months.length) return section("By month", h("p", {}, "No leads were received in this range."));
  const points = months.map(({ month, figures }) => ({ label: monthLabel(month, locale), values: figures || ZERO }));
  const summary = months
    .map(({ month, figures }) => {
      const f = figures || ZERO;
      return `${monthLabel(month, locale, "long")}: ${f.received} received, ${f.accepted} accepted, ${f.won} won`;
    })
    .join("; ");
  return section(
    "By month",
    columnChart({ label: `Leads by month received (UTC). ${summary}.`, points, series: SERIES, className: "month-chart" }),
    legend(SERIES),
    h(
      "details",
      { class: "chart-table" },
      h("summary", {}, "By month as a table"),
      figuresTable("By month received (UTC)", "Month", months.map(({ month, figures }) => [monthLabel(month, locale, "long"), figures || ZERO]), locale),
    ),
  );
}

function byType(groups, labels, locale) {
  const rows = groups.filter((g) => g.key.type).map((g) => [labels.get(g.key.type) || humanize(g.key.type), g.figures]);
  if (!rows.length) return section("By type", h("p", {}, "No leads were received in this range."));
  const summary = rows.map(([name, f]) => `${name}: ${f.received} received, ${f.accepted} accepted, ${f.won} won`).join("; ");
  return section(
    "By type",
    barChart({
      label: `Leads received by type. ${summary}.`,
      rows: rows.map(([name, f]) => ({ label: name, value: f.received, cls: "bar-received" })),
      className: "type-chart",
    }),
    h(
      "details",
      { class: "chart-table" },
      h("summary", {}, "By type as a table"),
      figuresTable("By lead type", "Type", rows, locale),
    ),
  );
}

async function filterForm(ctx, params) {
  const [types, sources, audiences] = await Promise.all([
    enumValues(ctx.api, "LeadType"),
    enumValues(ctx.api, "LeadTab"),
    enumValues(ctx.api, "PipelineAudience"),
  ]);
  const any = (label) => [{ value: "", label }];
  const form = h(
    "form",
    { class: "pipeline-filters card", "aria-label": "Pipeline filters", novalidate: true },
    formErrorBox(),
    h(
      "div",
      { class: "filter-grid" },
      field("Received from", "filter.from", { kind: "date", value: params.get("from") || "", hint: "A UTC day; empty: a year before the end." }),
      field("Received before", "filter.to", { kind: "date", value: params.get("to") || "", hint: "The first UTC day not counted; empty: now." }),
      field("Lead type", "filter.types", { kind: "select", value: params.get("type") || "", options: [...any("All types"), ...types] }),
      field("Source", "filter.sources", {
        kind: "select",
        value: params.get("source") || "",
        // FAVORITES is a viewer's own list, not where leads come from.
        options: [...any("All sources"), ...sources.filter((s) => s.value !== "FAVORITES")],
      }),
      field("Leads", "filter.audience", {
        kind: "select",
        value: params.get("audience") || "",
        options: [...any("Default for my role"), ...audiences.map((a) => ({ value: a.value, label: a.value === "SENT" ? "Sent by me" : a.value === "RECEIVED" ? "Received by my partner" : a.label }))],
      }),
    ),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary" }, "Apply filters"),
      h("button", { type: "button", onclick: () => go(ctx, new URLSearchParams()) }, "Clear filters"),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const next = new URLSearchParams();
    for (const [param, name] of [["from", "filter.from"], ["to", "filter.to"], ["type", "filter.types"], ["source", "filter.sources"], ["audience", "filter.audience"]]) {
      const value = String(data.get(name) || "");
      if (value) next.set(param, value);
    }
    go(ctx, next);
  });
  return { form, typeLabels: new Map(types.map((t) => [t.value, t.label])) };
}

// "Received 1 Sep 2026 – 31 Oct 2026 · Sales qualified": what the figures count, in words.
function describe(params, typeLabels, locale) {
  const day = (iso, back = 0) => {
    const date = new Date(Date.parse(`${iso}T00:00:00Z`) - back * 86400000);
    try {
      return new Intl.DateTimeFormat(locale || undefined, { dateStyle: "medium", timeZone: "UTC" }).format(date);
    } catch (err) {
      return iso;
    }
  };
  const from = DAY.test(params.get("from") || "") ? day(params.get("from")) : null;
  // `to` is the first day not counted: the last one counted is the day before.
  const to = DAY.test(params.get("to") || "") ? day(params.get("to"), 1) : null;
  const range =
    from && to ? `Received ${from} – ${to}` : from ? `Received since ${from}` : to ? `Received in the year up to ${to}` : "Received in the last 365 days";
  const parts = [range];
  if (params.get("type")) parts.push(typeLabels.get(params.get("type")) || humanize(params.get("type")));
  if (params.get("source")) parts.push(humanize(params.get("source")));
  if (params.get("audience") === "SENT") parts.push("sent by me");
  return `${parts.join(" · ")} (UTC days).`;
}

function go(ctx, params) {
  focusResults = true;
  const query = params.toString();
  ctx.navigate(`#/pipeline${query ? `?${query}` : ""}`);
}

export async function mount(el, ctx) {
  useViewsStyles();
  const params = ctx.route.params;
  const locale = ctx.viewer.locale;
  const heading = h("h1", {}, "Pipeline");
  const status = h("p", { role: "status", class: "status" }, "Loading the pipeline…");
  const results = h("div", { class: "pipeline-results", tabindex: "-1" });
  el.append(heading, status);
  let form;
  let typeLabels = new Map();
  let filters;
  try {
    ({ form, typeLabels } = await filterForm(ctx, params));
    filters = h("details", { class: "pipeline-filter-box" }, h("summary", {}, "Filters"), form);
    heading.after(h("p", { class: "lede" }, describe(params, typeLabels, locale)));
    el.append(filters, results);
  } catch (err) {
    status.textContent = err.message;
    return;
  }
  const wantFocus = focusResults;
  focusResults = false;
  try {
    const data = await ctx.api.query(PIPELINE, { filter: filterFrom(params) });
    clearFormErrors(form);
    const overall = data.byMonth.overall;
    status.textContent = overall.received
      ? `${overall.received} leads received in this range.`
      : "No leads were received in this range.";
    clear(results).append(
      funnel(overall),
      rates(overall, locale),
      values(overall),
      byMonth(data.byMonth.groups, locale),
      byType(data.byType.groups, typeLabels, locale),
    );
    if (wantFocus) results.focus();
  } catch (err) {
    // A refused filter (a range over two years, `from` after `to`) is shown at its field.
    const errors = queryErrors(err);
    if (errors.some((e) => e.field)) {
      status.textContent = "These filters cannot be shown.";
      filters.open = true;
      showFormErrors(form, errors);
    } else {
      status.textContent = errors.map((e) => e.message).join(" ");
    }
  }
}
