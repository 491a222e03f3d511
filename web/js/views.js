// What the pipeline, notifications and settings pages share: their stylesheet, payload and
// query errors as form errors, numbers in the viewer's locale.

import { h } from "./ui.js";

// views.css belongs to these pages (app.css to the shell): linked once, by the first of them
// to mount. A <link> to 'self' is what the CSP's style-src allows.
export function useViewsStyles() {
  if (document.querySelector("link[data-views-css]")) return;
  document.head.append(h("link", { rel: "stylesheet", href: "/web/views.css", dataset: { viewsCss: "1" } }));
}

// A field path as the API gives it (["input", "rules", "0", "countries", "1"]) as the dotted
// control name showFormErrors looks up ("rules.0.countries.1"; null: about the whole form).
function fieldName(path) {
  const parts = Array.isArray(path) ? path.map(String) : path ? [String(path)] : [];
  const rest = parts[0] === "input" ? parts.slice(1) : parts;
  return rest.length ? rest.join(".") : null;
}

// A mutation payload's `errors { code field message }`, ready for showFormErrors.
export function payloadErrors(errors) {
  return (errors || []).map((e) => ({ code: e.code, field: fieldName(e.field), message: e.message }));
}

// A query's refusal (ApiError, whose GraphQL errors carry extensions {code, field}), likewise.
export function queryErrors(err) {
  const errors = (err && err.errors) || [];
  if (!errors.length) return [{ code: (err && err.code) || "ERROR", field: null, message: String(err && err.message) }];
  return errors.map((e) => {
    const ext = e.extensions || {};
    return { code: ext.code || "ERROR", field: fieldName(ext.field), message: e.message };
  });
}

function numberFormat(locale, options) {
  try {
    return new Intl.NumberFormat(locale || undefined, options);
  } catch (err) {
    return new Intl.NumberFormat(undefined, options);
  }
}

export function formatPercent(value, locale) {
  if (value === null || value === undefined) return "—";
  return numberFormat(locale, { style: "percent", maximumFractionDigits: 1 }).format(value);
}

export function formatNumber(value, locale, digits = 1) {
  if (value === null || value === undefined) return "—";
  return numberFormat(locale, { maximumFractionDigits: digits }).format(value);
}

export function formatHours(value, locale) {
  if (value === null || value === undefined) return "—";
  return `${formatNumber(value, locale)} h`;
}
