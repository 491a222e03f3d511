// Small DOM helpers. API data only ever becomes text nodes or attribute values (never
// innerHTML), so a company called "<img onerror=...>" stays a string.

// h("button", {type: "button", onclick: fn, class: "x", "aria-pressed": "true"}, "text", node)
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "value" || key === "checked" || key === "selected") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  appendAll(el, children);
  return el;
}

// el.append() without the null/false children conditional rendering leaves.
export function append(el, ...children) {
  appendAll(el, children);
  return el;
}

function appendAll(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) appendAll(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

let uid = 0;
export function uniqueId(prefix = "id") {
  uid += 1;
  return `${prefix}-${uid}`;
}

// The viewer's locale and time zone (from `viewer`), set once signed in.
const prefs = { locale: undefined, timeZone: undefined };

export function setPreferences({ locale, timeZone }) {
  prefs.locale = locale || undefined;
  prefs.timeZone = timeZone || undefined;
}

function safe(fn, fallback) {
  try {
    return fn();
  } catch (err) {
    return fallback;
  }
}

export function formatDate(iso, { time = true } = {}) {
  if (!iso) return "";
  const date = new Date(iso.length === 10 ? `${iso}T00:00:00Z` : iso);
  const options = time ? { dateStyle: "medium", timeStyle: "short" } : { dateStyle: "medium" };
  // A plain date (YYYY-MM-DD) is a calendar day: shown as is, not moved by the time zone.
  const zone = iso.length === 10 ? "UTC" : prefs.timeZone;
  return safe(
    () => new Intl.DateTimeFormat(prefs.locale, { ...options, timeZone: zone }).format(date),
    date.toISOString(),
  );
}

export function formatMoney(money) {
  if (!money) return "";
  return safe(
    () =>
      new Intl.NumberFormat(prefs.locale, { style: "currency", currency: money.currency }).format(
        Number(money.amount),
      ),
    `${money.amount} ${money.currency}`,
  );
}

// "3 days left", "5 hours left", "overdue": seconds from `timeLeftToRespond`.
export function formatCountdown(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds <= 0) return "Overdue";
  const rtf = safe(() => new Intl.RelativeTimeFormat(prefs.locale, { numeric: "always" }), null);
  const [value, unit] =
    seconds >= 86400
      ? [Math.floor(seconds / 86400), "day"]
      : seconds >= 3600
        ? [Math.floor(seconds / 3600), "hour"]
        : [Math.max(1, Math.floor(seconds / 60)), "minute"];
  return rtf ? `Respond ${rtf.format(value, unit)}` : `${value} ${unit}(s) left`;
}

// SCREAMING_CASE enum value → "Screaming case", when the schema gives no description; size
// bands (SIZE_51_250, SIZE_20000_PLUS) read as ranges of employees.
export function humanize(value) {
  if (!value) return "";
  const band = /^SIZE_(\d+)_(\d+|PLUS)$/.exec(value);
  if (band) return band[2] === "PLUS" ? `${band[1]}+ employees` : `${band[1]}–${band[2]} employees`;
  const text = String(value).toLowerCase().replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// Screen readers hear this politely (the live region is in index.html).
export function announce(text) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  // A fresh text node after a tick: repeated identical messages are still read out.
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}

// A payload error's field path as a control name: ["input", "estimatedValue", "amount"] →
// "estimatedValue.amount" (null: about the whole form).
export function errorAt(error) {
  const path = Array.isArray(error.field) ? error.field : error.field ? [error.field] : [];
  const rest = path[0] === "input" ? path.slice(1) : path;
  return { ...error, field: rest.length ? rest.join(".") : null };
}

// Shows payload errors [{code, field, message}] in `form`: each next to the control whose
// `name` is its field (aria-invalid, aria-describedby), the others in the form's top box.
// Returns true when there were errors. Fields may be dotted ("estimatedValue.amount"): the
// nearest control whose name is a prefix gets it.
export function showFormErrors(form, errors) {
  clearFormErrors(form);
  if (!errors || !errors.length) return false;
  const top = form.querySelector(".form-errors");
  let firstInvalid = null;
  for (const error of errors) {
    const control = error.field ? controlFor(form, error.field) : null;
    if (control) {
      const id = uniqueId("err");
      const note = h("p", { class: "field-error", id }, error.message);
      control.setAttribute("aria-invalid", "true");
      const described = control.getAttribute("aria-describedby");
      control.setAttribute("aria-describedby", described ? `${described} ${id}` : id);
      (control.closest(".field") || control.parentElement).append(note);
      firstInvalid = firstInvalid || control;
    } else if (top) {
      top.append(h("p", {}, error.field ? `${error.field}: ${error.message}` : error.message));
    }
  }
  if (top && top.childNodes.length) {
    top.hidden = false;
    top.focus();
  } else if (firstInvalid) {
    firstInvalid.focus();
  }
  return true;
}

function controlFor(form, field) {
  const parts = field.split(".");
  for (let n = parts.length; n > 0; n -= 1) {
    const name = parts.slice(0, n).join(".");
    const control = form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (control) return control;
  }
  return null;
}

export function clearFormErrors(form) {
  for (const note of form.querySelectorAll(".field-error")) {
    const control = form.querySelector(`[aria-describedby~="${note.id}"]`);
    if (control) {
      const rest = control.getAttribute("aria-describedby").split(" ").filter((x) => x !== note.id);
      if (rest.length) control.setAttribute("aria-describedby", rest.join(" "));
      else control.removeAttribute("aria-describedby");
      control.removeAttribute("aria-invalid");
    }
    note.remove();
  }
  const top = form.querySelector(".form-errors");
  if (top) {
    clear(top);
    top.hidden = true;
  }
}

// A labelled form control inside a .field wrapper. kind: input type, "select" or "textarea".
// options (select): [{value, label}].
export function field(label, name, { kind = "text", value, required, options, hint, ...attrs } = {}) {
  const id = uniqueId(name.replace(/\W/g, "-"));
  let control;
  if (kind === "select") {
    control = h(
      "select",
      { id, name, required, ...attrs },
      (options || []).map((o) => h("option", { value: o.value, selected: o.value === value }, o.label)),
    );
  } else if (kind === "textarea") {
    control = h("textarea", { id, name, required, ...attrs });
    if (value) control.value = value;
  } else {
    control = h("input", { id, name, type: kind, required, ...attrs });
    if (value !== undefined && value !== null) control.value = value;
  }
  const hintId = hint ? uniqueId("hint") : null;
  if (hintId) control.setAttribute("aria-describedby", hintId);
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label, required ? h("span", { class: "required" }, " (required)") : null),
    control,
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
  );
}

// The form's top error box: focusable so a failed submit can move focus there.
export function formErrorBox() {
  return h("div", { class: "form-errors", role: "alert", tabindex: "-1", hidden: true });
}

// Enum values with descriptions, one `enumValues` query per enum, cached (`__type` would do the
// same, but introspection is off in production).
const enumCache = new Map();
const ENUM_QUERY = `query EnumValues($name: String!) {
  enumValues(enum: $name) { name description }
}`;

export function enumValues(api, name) {
  if (!enumCache.has(name)) {
    const pending = api.query(ENUM_QUERY, { name }).then((data) =>
      (data.enumValues || []).map((v) => ({
        value: v.name,
        label: v.description || humanize(v.name),
      })),
    );
    pending.catch(() => enumCache.delete(name));
    enumCache.set(name, pending);
  }
  return enumCache.get(name);
}
