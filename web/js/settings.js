// The settings page: the viewer's language and time zone, and the partner's routing rules
// (edited by a PARTNER_ADMIN, read by a REFERRALS_ADMIN). mount(el, ctx): see app.js.

import { clear, clearFormErrors, field, formErrorBox, h, setPreferences, showFormErrors, uniqueId } from "./ui.js";
import { payloadErrors, useViewsStyles } from "./views.js";

const PREFERENCES_DATA = `query PreferencesData { supportedLocales viewer { locale timeZone } }`;
const UPDATE_PREFERENCES = `mutation UpdateMyPreferences($input: UpdateMyPreferencesInput!) {
  updateMyPreferences(input: $input) { preferences { locale timeZone } errors { code field message } }
}`;
const RULE = "id position industries solutionAreas countries ownerId roundRobinUserIds roundRobinLocationId assignedCount";
const ROUTING_DATA = `query RoutingData {
  routingRules { ${RULE} }
  leadManagers { id name email }
  myBusinessProfile { locations { id name } }
}`;
const SET_RULES = `mutation SetRoutingRules($input: SetRoutingRulesInput!) {
  setRoutingRules(input: $input) { rules { ${RULE} } errors { code field message } }
}`;

function isApiKey(viewer) {
  // An API key's viewer has no person behind it (no e-mail): it has no preferences to set.
  return !viewer.user || !viewer.user.email;
}

function languageName(tag, uiLocale) {
  try {
    const name = new Intl.DisplayNames([uiLocale || "en", "en"], { type: "language" }).of(tag);
    return name && name !== tag ? `${name} (${tag})` : tag;
  } catch (err) {
    return tag;
  }
}

function timeZones() {
  try {
    return Intl.supportedValuesOf("timeZone");
  } catch (err) {
    return []; // an older browser: the field still takes any IANA name typed in
  }
}

// --- Language and time zone ------------------------------------------------------------------

async function preferences(ctx) {
  const part = h("section", { class: "settings-part card", "aria-labelledby": "settings-preferences" });
  part.append(h("h2", { id: "settings-preferences" }, "Language and time zone"));
  if (isApiKey(ctx.viewer)) {
    part.append(h("p", {}, "Signed in with an API key: it reads English, in UTC. Preferences belong to people."));
    return part;
  }
  const { supportedLocales, viewer } = await ctx.api.query(PREFERENCES_DATA);
  const listId = uniqueId("zones");
  const status = h("p", { role: "status", class: "status" });
  const form = h(
    "form",
    { novalidate: true },
    formErrorBox(),
    h("p", { class: "meta" }, "Your e-mails and in-app notifications are written in this language, with dates in this time zone; this page shows dates and amounts the same way."),
    field("Language", "locale", {
      kind: "select",
      value: viewer.locale,
      options: supportedLocales.map((tag) => ({ value: tag, label: languageName(tag, viewer.locale) })),
    }),
    field("Time zone", "timeZone", {
      value: viewer.timeZone,
      list: listId,
      autocomplete: "off",
      spellcheck: "false",
      hint: "An IANA name, e.g. America/Sao_Paulo or Europe/Lisbon: type to pick one.",
    }),
    h("datalist", { id: listId }, timeZones().map((zone) => h("option", { value: zone }))),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Save language and time zone")),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormErrors(form);
    status.textContent = "";
    const data = new FormData(form);
    const input = { locale: String(data.get("locale") || ""), timeZone: String(data.get("timeZone") || "").trim() };
    try {
      const { updateMyPreferences: result } = await ctx.api.query(UPDATE_PREFERENCES, { input });
      if (showFormErrors(form, payloadErrors(result.errors))) return;
      // The shell's viewer (and so every page's dates) follows at once.
      Object.assign(ctx.viewer, result.preferences);
      setPreferences(ctx.viewer);
      form.elements.timeZone.value = result.preferences.timeZone;
      form.elements.locale.value = result.preferences.locale;
      status.textContent = `Saved: ${languageName(result.preferences.locale, result.preferences.locale)}, ${result.preferences.timeZone}.`;
    } catch (err) {
      showFormErrors(form, [{ field: null, message: err.message }]);
    }
  });
  part.append(form);
  return part;
}

// --- Routing rules ---------------------------------------------------------------------------

const TARGETS = [
  ["owner", "One person"],
  ["turns", "People in turn"],
  ["location", "A location's alert contacts, in turn"],
];

function fromRule(rule) {
  return {
    industries: rule.industries.join(", "),
    solutionAreas: rule.solutionAreas.join(", "),
    countries: rule.countries.join(", "),
    target: rule.roundRobinLocationId ? "location" : rule.roundRobinUserIds.length ? "turns" : "owner",
    ownerId: rule.ownerId || "",
    roundRobinUserIds: [...rule.roundRobinUserIds],
    roundRobinLocationId: rule.roundRobinLocationId || "",
    assignedCount: rule.assignedCount,
  };
}

function emptyRule() {
  return fromRule({ industries: [], solutionAreas: [], countries: [], ownerId: null, roundRobinUserIds: [], roundRobinLocationId: null, assignedCount: 0 });
}

function list(text) {
  return text.split(",").map((v) => v.trim()).filter(Boolean);
}

function toInput(rule) {
  const input = {
    industries: list(rule.industries),
    solutionAreas: list(rule.solutionAreas),
    countries: list(rule.countries).map((c) => c.toUpperCase()),
  };
  if (rule.target === "owner") input.ownerId = rule.ownerId || null;
  if (rule.target === "turns") input.roundRobinUserIds = rule.roundRobinUserIds;
  if (rule.target === "location") input.roundRobinLocationId = rule.roundRobinLocationId || null;
  return input;
}

function describe(rule, people, locations) {
  const matches = [
    rule.industries.length ? `industry ${rule.industries.join(" or ")}` : null,
    rule.solutionAreas.length ? `solution area ${rule.solutionAreas.join(" or ")}` : null,
    rule.countries.length ? `country ${rule.countries.join(" or ")}` : null,
  ].filter(Boolean);
  const who = (id) => (people.get(id) || { name: "someone no longer a lead manager" }).name;
  const target = rule.ownerId
    ? `to ${who(rule.ownerId)}`
    : rule.roundRobinUserIds.length
      ? `in turn to ${rule.roundRobinUserIds.map(who).join(", ")}`
      : `in turn to the alert contacts of ${(locations.get(rule.roundRobinLocationId) || { name: "a location" }).name}`;
  return `${matches.length ? `Leads with ${matches.join(", ")}` : "Every lead"} go ${target}.`;
}

function readOnlyRules(rules, people, locations) {
  if (!rules.length) return h("p", {}, "No routing rules: new leads stay unowned until someone assigns them.");
  return h(
    "ol",
    { class: "rules-list" },
    rules.map((rule) =>
      h("li", {}, describe(rule, people, locations), " ", h("span", { class: "meta" }, `(${rule.assignedCount} assigned so far)`)),
    ),
  );
}

async function routing(ctx) {
  const part = h("section", { class: "settings-part card", "aria-labelledby": "settings-routing" });
  part.append(h("h2", { id: "settings-routing" }, "Routing rules"));
  const data = await ctx.api.query(ROUTING_DATA);
  const people = new Map(data.leadManagers.map((p) => [p.id, p]));
  const locationList = (data.myBusinessProfile && data.myBusinessProfile.locations) || [];
  const locations = new Map(locationList.map((l) => [l.id, l]));
  const intro = h("p", { class: "meta" }, "As a lead arrives, the first rule that matches it (and has someone to give it to) picks its owner. Empty lists match any lead.");
  if (!ctx.viewer.roles.includes("PARTNER_ADMIN")) {
    part.append(intro, readOnlyRules(data.routingRules, people, locations), h("p", { class: "notice" }, "Only a partner admin can change the routing rules."));
    return part;
  }

  let rules = data.routingRules.map(fromRule);
  const holder = h("div", { class: "rules" });
  const status = h("p", { role: "status", class: "status" });
  const form = h(
    "form",
    { novalidate: true, "aria-labelledby": "settings-routing" },
    formErrorBox(),
    holder,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "button", dataset: { key: "add" }, onclick: () => { rules.push(emptyRule()); draw(`${rules.length - 1}:industries`); } }, "Add a rule"),
      h("button", { type: "submit", class: "primary" }, "Save routing rules"),
    ),
    status,
  );

  function bind(control, i, key) {
    control.dataset.key = `${i}:${key}`;
    control.addEventListener("input", () => {
      rules[i][key] = control.value;
    });
    return control;
  }

  function move(i, by) {
    const j = i + by;
    [rules[i], rules[j]] = [rules[j], rules[i]];
    // Focus stays on the moved rule's button of the same direction, or the other one at an end.
    const [same, other] = by < 0 ? ["up", "down"] : ["down", "up"];
    const atEnd = by < 0 ? j === 0 : j === rules.length - 1;
    draw(`${j}:${atEnd ? other : same}`);
    ctx.announce(`Rule moved to position ${j + 1}.`);
  }

  function ruleEditor(rule, i) {
    const n = i + 1;
    const headingId = uniqueId("rule");
    const textField = (label, key, hint) => {
      const wrapper = field(label, `rules.${i}.${key}`, { value: rule[key], hint });
      bind(wrapper.querySelector("input"), i, key);
      return wrapper;
    };
    const radioName = uniqueId("target");
    const radios = TARGETS.map(([value, label]) => {
      const id = uniqueId("target");
      const radio = h("input", { type: "radio", id, name: radioName, value, checked: rule.target === value, dataset: { key: `${i}:target:${value}` } });
      radio.addEventListener("change", () => {
        rule.target = value;
        draw(`${i}:target:${value}`);
      });
      return h("label", { class: "choice", for: id }, radio, label);
    });
    let chooser;
    if (rule.target === "owner") {
      chooser = field("Person", `rules.${i}.ownerId`, {
        kind: "select",
        value: rule.ownerId,
        options: [{ value: "", label: "Choose a lead manager" }, ...data.leadManagers.map((p) => ({ value: p.id, label: `${p.name} (${p.email})` }))],
      });
      bind(chooser.querySelector("select"), i, "ownerId");
    } else if (rule.target === "turns") {
      chooser = h(
        "fieldset",
        { class: "field", name: `rules.${i}.roundRobinUserIds` },
        h("legend", {}, "People, in turn"),
        h(
          "div",
          { class: "choices" },
          data.leadManagers.map((p) => {
            const id = uniqueId("turn");
            const box = h("input", { type: "checkbox", id, value: p.id, checked: rule.roundRobinUserIds.includes(p.id), dataset: { key: `${i}:turn:${p.id}` } });
            box.addEventListener("change", () => {
              rule.roundRobinUserIds = box.checked
                ? [...rule.roundRobinUserIds, p.id]
                : rule.roundRobinUserIds.filter((x) => x !== p.id);
            });
            return h("label", { for: id }, box, p.name);
          }),
        ),
      );
    } else {
      chooser = field("Location", `rules.${i}.roundRobinLocationId`, {
        kind: "select",
        value: rule.roundRobinLocationId,
        options: [{ value: "", label: locationList.length ? "Choose a location" : "Your profile has no locations" }, ...locationList.map((l) => ({ value: l.id, label: l.name }))],
      });
      const select = chooser.querySelector("select");
      select.dataset.key = `${i}:location`;
      select.addEventListener("change", () => { rule.roundRobinLocationId = select.value; });
    }
    const button = (label, key, onclick, disabled) =>
      h("button", { type: "button", "aria-label": `${label} (rule ${n})`, dataset: { key: `${i}:${key}` }, onclick, disabled }, label);
    return h(
      "div",
      { class: "rule", role: "group", "aria-labelledby": headingId, dataset: { rule: String(n) } },
      h("h3", { id: headingId }, `Rule ${n}`, rule.assignedCount ? h("span", { class: "meta" }, ` — ${rule.assignedCount} assigned so far`) : null),
      h(
        "div",
        { class: "rule-matches" },
        textField("Industries", "industries", "Separated by commas, e.g. Healthcare, Retail. Empty: any."),
        textField("Solution areas", "solutionAreas", "Separated by commas. Empty: any."),
        textField("Countries", "countries", "ISO codes separated by commas, e.g. BR, PT. Empty: any."),
      ),
      h("fieldset", { class: "field targets", name: `rules.${i}` }, h("legend", {}, "Who gets the lead"), radios, chooser),
      h(
        "div",
        { class: "actions" },
        button("Move up", "up", () => move(i, -1), i === 0),
        button("Move down", "down", () => move(i, 1), i === rules.length - 1),
        button("Remove", "remove", () => {
          rules.splice(i, 1);
          draw(rules.length ? `${Math.min(i, rules.length - 1)}:remove` : "add");
          ctx.announce(`Rule ${n} removed. Save to keep the change.`);
        }),
      ),
    );
  }

  function draw(focusKey) {
    clearFormErrors(form);
    clear(holder);
    if (!rules.length) holder.append(h("p", {}, "No routing rules: new leads stay unowned until someone assigns them."));
    rules.forEach((rule, i) => holder.append(ruleEditor(rule, i)));
    if (focusKey) {
      const target = form.querySelector(`[data-key="${CSS.escape(focusKey)}"]`);
      if (target && !target.disabled) target.focus();
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormErrors(form);
    status.textContent = "";
    try {
      const { setRoutingRules: result } = await ctx.api.query(SET_RULES, { input: { rules: rules.map(toInput) } });
      if (showFormErrors(form, payloadErrors(result.errors))) return;
      rules = result.rules.map(fromRule);
      draw();
      status.textContent = result.rules.length === 1 ? "Saved 1 rule." : `Saved ${result.rules.length} rules.`;
    } catch (err) {
      showFormErrors(form, [{ field: null, message: err.message }]);
    }
  });

  draw();
  part.append(intro, form);
  return part;
}

export async function mount(el, ctx) {
  useViewsStyles();
  const status = h("p", { role: "status", class: "status" }, "Loading settings…");
  el.append(h("h1", {}, "Settings"), status);
  try {
    el.append(await preferences(ctx));
    if (ctx.viewer.canManageLeads && ctx.viewer.organisation.kind === "PARTNER") el.append(await routing(ctx));
    status.textContent = "";
  } catch (err) {
    status.textContent = err.message;
  }
}
