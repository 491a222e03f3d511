// The detail pane's forms: each builds a <form> for one mutation, checks required fields,
// sends the lead's version (a colleague's change in between is a CONFLICT, offered a reload),
// and shows payload errors next to their fields.

import { ROW_FIELDS } from "./inbox.js";
import {
  clearFormErrors,
  enumValues,
  errorAt,
  field,
  formErrorBox,
  h,
  showFormErrors,
} from "./ui.js";

const PAYLOAD = `lead { ${ROW_FIELDS} } errors { code field message }`;
export const MUTATIONS = {
  accept: `mutation AcceptLead($input: AcceptLeadInput!) { acceptLead(input: $input) { ${PAYLOAD} } }`,
  decline: `mutation DeclineLead($input: DeclineLeadInput!) { declineLead(input: $input) { ${PAYLOAD} } }`,
  update: `mutation UpdateLead($input: UpdateLeadInput!) { updateLead(input: $input) { ${PAYLOAD} } }`,
  addMember: `mutation AddTeamMember($input: AddLeadTeamMemberInput!) { addLeadTeamMember(input: $input) { ${PAYLOAD} } }`,
  removeMember: `mutation RemoveTeamMember($input: RemoveLeadTeamMemberInput!) { removeLeadTeamMember(input: $input) { ${PAYLOAD} } }`,
  assign: `mutation AssignLead($input: AssignLeadInput!) { assignLead(input: $input) { ${PAYLOAD} } }`,
  won: `mutation MarkLeadWon($input: MarkLeadWonInput!) { markLeadWon(input: $input) { ${PAYLOAD} } }`,
  lost: `mutation MarkLeadLost($input: MarkLeadLostInput!) { markLeadLost(input: $input) { ${PAYLOAD} } }`,
  contacted: `mutation MarkContacted($input: MarkCustomerContactedInput!) { markCustomerContacted(input: $input) { ${PAYLOAD} } }`,
  note: `mutation AddLeadNote($input: AddLeadNoteInput!) {
    addLeadNote(input: $input) { activity { id } errors { code field message } }
  }`,
};

const CONFLICT_TEXT =
  "Someone else changed this lead since you opened it. Reload it to see their change, then try again.";

function today() {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

function value(form, name) {
  const control = form.elements[name];
  return control ? control.value.trim() : "";
}

function optional(form, name) {
  return value(form, name) || null;
}

// Required controls left empty, as errors next to them.
function missing(form) {
  return Array.from(form.querySelectorAll("[required]"))
    .filter((control) => !control.value.trim())
    .map((control) => ({ field: control.name, message: "This field is required." }));
}

function money(form, prefix) {
  return { amount: value(form, `${prefix}.amount`), currency: value(form, `${prefix}.currency`).toUpperCase() };
}

function moneyFields(label, prefix, initial, { required = true } = {}) {
  return h(
    "div",
    { class: "field-row" },
    field(`${label}: amount`, `${prefix}.amount`, { kind: "number", required, step: "0.01", min: "0", inputmode: "decimal", value: initial ? initial.amount : "" }),
    field(`${label}: currency`, `${prefix}.currency`, {
      required,
      value: initial ? initial.currency : "USD",
      maxlength: 3,
      autocomplete: "off",
      hint: "ISO 4217 code, e.g. USD, EUR, BRL",
    }),
  );
}

async function enumSelect(ctx, label, name, enumName, { required = true, placeholder = "Choose…", current } = {}) {
  let options;
  try {
    options = await enumValues(ctx.api, enumName);
  } catch (err) {
    return h("p", { class: "form-errors" }, `The list of ${label.toLowerCase()}s cannot be loaded: ${err.message}`);
  }
  return field(label, name, { kind: "select", required, value: current || "", options: [{ value: "", label: placeholder }, ...options] });
}

// A <form> for one mutation. build(form) adds the fields (may be async); input(form) the
// mutation's input (without id and expectedVersion); done(payload) runs after success.
export function mutationForm(pane, { title, submitLabel, mutation, key, build, input, versioned = true, danger = false }) {
  const form = h("form", { class: "panel lead-form", novalidate: true, "aria-label": title });
  const heading = h("h3", { tabindex: "-1" }, title);
  const submit = h("button", { type: "submit", class: danger ? "danger" : "primary" }, submitLabel);
  const cancel = h("button", { type: "button", onclick: () => pane.closeForm() }, "Cancel");
  form.append(heading, formErrorBox());
  const ready = Promise.resolve(build(form)).then(() => {
    form.append(h("div", { class: "actions" }, submit, cancel));
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await ready;
    clearFormErrors(form);
    const empty = missing(form);
    if (showFormErrors(form, empty)) return;
    const lead = pane.lead;
    const variables = { input: { id: lead.id, ...input(form), ...(versioned ? { expectedVersion: lead.version } : {}) } };
    submit.disabled = true;
    pane.busy = true;
    try {
      const payload = (await pane.ctx.api.query(mutation, variables))[key];
      if (payload.errors.length) {
        const conflict = payload.errors.some((e) => e.code === "CONFLICT");
        const errors = payload.errors.map((e) => (e.code === "CONFLICT" ? { ...e, field: null, message: CONFLICT_TEXT } : errorAt(e)));
        showFormErrors(form, errors);
        if (conflict) {
          form.querySelector(".form-errors").append(
            h("button", { type: "button", onclick: () => pane.reload({ focus: true }) }, "Reload lead"),
          );
        }
        return;
      }
      await pane.changed(payload.lead, `${title}: done`);
    } catch (err) {
      showFormErrors(form, [{ message: err.message }]);
    } finally {
      submit.disabled = false;
      pane.busy = false;
    }
  });
  return { form, ready, focus: () => ready.then(() => (form.querySelector("input, select, textarea") || heading).focus()) };
}

function contactRows(list) {
  const index = list.children.length;
  const row = h(
    "fieldset",
    { class: "contact" },
    h("legend", {}, `Contact ${index + 1}`),
    field("Name", `teamMembers.${index}.name`, { required: true }),
    field("E-mail", `teamMembers.${index}.email`, { kind: "email" }),
    field("Phone", `teamMembers.${index}.phone`, { kind: "tel" }),
  );
  list.append(row);
  row.querySelector("input").focus();
}

function teamMembers(form) {
  const members = [];
  for (let i = 0; form.elements[`teamMembers.${i}.name`]; i += 1) {
    members.push({
      name: value(form, `teamMembers.${i}.name`),
      email: optional(form, `teamMembers.${i}.email`),
      phone: optional(form, `teamMembers.${i}.phone`),
    });
  }
  return members;
}

export function acceptForm(pane) {
  return mutationForm(pane, {
    title: "Accept lead",
    submitLabel: "Accept lead",
    mutation: MUTATIONS.accept,
    key: "acceptLead",
    build: (form) => {
      const contacts = h("div", { class: "contacts" });
      form.append(
        field("Deal name", "dealName", { required: true, maxlength: 200 }),
        moneyFields("Estimated value", "estimatedValue"),
        field("Estimated purchase date", "estimatedPurchaseDate", { kind: "date", required: true }),
        field("Notes", "notes", { kind: "textarea" }),
        h("div", { class: "field-row" }, field("CRM id", "crmId"), field("Campaign id", "campaignId")),
        h("fieldset", {}, h("legend", {}, "Additional contacts (your team on this deal)"), contacts,
          h("button", { type: "button", onclick: () => contactRows(contacts) }, "Add a contact")),
      );
    },
    input: (form) => ({
      dealName: value(form, "dealName"),
      estimatedValue: money(form, "estimatedValue"),
      estimatedPurchaseDate: value(form, "estimatedPurchaseDate"),
      notes: optional(form, "notes"),
      crmId: optional(form, "crmId"),
      campaignId: optional(form, "campaignId"),
      teamMembers: teamMembers(form),
    }),
  });
}

export function declineForm(pane) {
  return mutationForm(pane, {
    title: "Decline lead",
    submitLabel: "Decline lead",
    mutation: MUTATIONS.decline,
    key: "declineLead",
    danger: true,
    build: async (form) => {
      form.append(
        await enumSelect(pane.ctx, "Reason", "reason", "DeclineReason", { placeholder: "Choose a reason" }),
        field("Notes", "notes", { kind: "textarea", hint: "Kept with the lead; the customer never sees them." }),
      );
    },
    input: (form) => ({ reason: value(form, "reason"), notes: optional(form, "notes") }),
  });
}

export function editForm(pane) {
  const deal = pane.lead.deal || {};
  const initial = {
    dealName: deal.name || "",
    "estimatedValue.amount": deal.estimatedValue ? deal.estimatedValue.amount : "",
    "estimatedValue.currency": deal.estimatedValue ? deal.estimatedValue.currency : "",
    estimatedPurchaseDate: deal.estimatedPurchaseDate || "",
    notes: deal.notes || "",
    crmId: deal.crmId || "",
    campaignId: deal.campaignId || "",
  };
  return mutationForm(pane, {
    title: "Edit deal",
    submitLabel: "Save changes",
    mutation: MUTATIONS.update,
    key: "updateLead",
    build: (form) => {
      form.append(
        field("Deal name", "dealName", { value: initial.dealName, maxlength: 200 }),
        moneyFields("Estimated value", "estimatedValue", deal.estimatedValue, { required: false }),
        field("Estimated purchase date", "estimatedPurchaseDate", { kind: "date", value: initial.estimatedPurchaseDate }),
        field("Notes", "notes", { kind: "textarea", value: initial.notes }),
        h("div", { class: "field-row" }, field("CRM id", "crmId", { value: initial.crmId }), field("Campaign id", "campaignId", { value: initial.campaignId })),
      );
    },
    // Only what changed: an untouched field stays as it is (a colleague may have set it).
    input: (form) => {
      const changes = {};
      for (const name of ["dealName", "estimatedPurchaseDate", "notes", "crmId", "campaignId"]) {
        if (value(form, name) !== initial[name]) changes[name] = optional(form, name);
      }
      if (value(form, "estimatedValue.amount") !== initial["estimatedValue.amount"] ||
          value(form, "estimatedValue.currency").toUpperCase() !== initial["estimatedValue.currency"]) {
        changes.estimatedValue = money(form, "estimatedValue");
      }
      return changes;
    },
  });
}

export function addMemberForm(pane) {
  return mutationForm(pane, {
    title: "Add team member",
    submitLabel: "Add to team",
    mutation: MUTATIONS.addMember,
    key: "addLeadTeamMember",
    build: (form) => {
      form.append(
        field("Name", "name", { required: true }),
        field("E-mail", "email", { kind: "email" }),
        field("Phone", "phone", { kind: "tel" }),
      );
    },
    input: (form) => ({ name: value(form, "name"), email: optional(form, "email"), phone: optional(form, "phone") }),
  });
}

// The people a lead can go to: the partner's lead managers (`leadManagers`), the viewer marked
// "Me"; the current owner stays listed even if they have since lost the role.
const LEAD_MANAGERS = `query LeadManagers { leadManagers { id name email } }`;

async function ownerOptions(pane) {
  const { lead, ctx } = pane;
  const people = new Map();
  for (const user of (await ctx.api.query(LEAD_MANAGERS)).leadManagers) {
    people.set(user.id, user.id === ctx.viewer.user.id ? `Me (${user.name})` : `${user.name} (${user.email})`);
  }
  if (lead.owner && !people.has(lead.owner.id)) people.set(lead.owner.id, lead.owner.name);
  return [{ value: "", label: "Nobody (unassigned)" }, ...Array.from(people, ([id, label]) => ({ value: id, label }))];
}

export function assignForm(pane) {
  return mutationForm(pane, {
    title: "Assign owner",
    submitLabel: "Assign",
    mutation: MUTATIONS.assign,
    key: "assignLead",
    build: async (form) => {
      form.append(
        field("Owner", "ownerId", {
          kind: "select",
          value: pane.lead.owner ? pane.lead.owner.id : "",
          options: await ownerOptions(pane),
        }),
      );
    },
    input: (form) => ({ ownerId: optional(form, "ownerId") }),
  });
}

export function noteForm(pane) {
  return mutationForm(pane, {
    title: "Log activity",
    submitLabel: "Add to log",
    mutation: MUTATIONS.note,
    key: "addLeadNote",
    versioned: false,
    build: async (form) => {
      form.append(
        await enumSelect(pane.ctx, "Kind", "kind", "ActivityKind", { current: "NOTE", placeholder: "Choose a kind" }),
        field("What was said or done", "body", { kind: "textarea", required: true, maxlength: 4000 }),
      );
    },
    input: (form) => ({ kind: value(form, "kind"), body: value(form, "body") }),
  });
}

export function wonForm(pane) {
  const deal = pane.lead.deal || {};
  return mutationForm(pane, {
    title: "Mark won",
    submitLabel: "Mark won",
    mutation: MUTATIONS.won,
    key: "markLeadWon",
    build: (form) => {
      form.append(
        moneyFields("Final value", "finalValue", deal.estimatedValue),
        field("Closing date", "closingDate", { kind: "date", required: true, value: today() }),
      );
    },
    input: (form) => ({ finalValue: money(form, "finalValue"), closingDate: value(form, "closingDate") }),
  });
}

export function lostForm(pane) {
  return mutationForm(pane, {
    title: "Mark lost",
    submitLabel: "Mark lost",
    mutation: MUTATIONS.lost,
    key: "markLeadLost",
    danger: true,
    build: async (form) => {
      form.append(
        await enumSelect(pane.ctx, "Reason", "reason", "LostReason", { placeholder: "Choose a reason" }),
        field("Notes", "notes", { kind: "textarea" }),
      );
    },
    input: (form) => ({ reason: value(form, "reason"), notes: optional(form, "notes") }),
  });
}
