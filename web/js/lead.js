// The lead detail pane: what the lead is, who the customer is, its deal, team, owner, activity
// and history. Its buttons come from `allowedActions` (R9: an archived lead has none); the
// working steps (owner, activity, contacted), which `allowedActions` does not list, are offered
// exactly when it lists some action. mount(el, ctx): see app.js.

import { flame, LEAD_CHANGED } from "./inbox.js";
import {
  acceptForm,
  addMemberForm,
  assignForm,
  declineForm,
  editForm,
  lostForm,
  MUTATIONS,
  noteForm,
  wonForm,
} from "./lead_forms.js";
import {
  append,
  clear,
  enumValues,
  formatCountdown,
  formatDate,
  formatMoney,
  h,
  humanize,
} from "./ui.js";

const DETAIL = `query LeadDetail($id: ID!) {
  lead(id: $id) {
    id version type tab stage outcome receivedAt respondBy timeLeftToRespond respondedAt
    archivedAt updatedAt contactAlert allowedActions isFavorite customerContactedAt lastActivityAt
    customer {
      companyName companySize industry country contactName contactEmail contactPhone need
      contactRequested consentToContact contactHidden personalDataRedactedAt
    }
    deal {
      name estimatedValue { amount currency } estimatedPurchaseDate notes crmId campaignId
      declineReason declineNotes finalValue { amount currency } closingDate lostReason lostNotes
    }
    sender { kind name organisationName }
    owner { id name email }
    team { id name email phone addedAt }
    history { id action fromStage toStage outcome at changes { field from to } actor { kind name } }
    activities(first: 20) { id kind body occurredAt author { kind name } }
  }
}`;

// allowedActions → the button that opens its form.
const ACTION_BUTTONS = [
  ["ACCEPT", "Accept", acceptForm],
  ["DECLINE", "Decline", declineForm],
  ["UPDATE", "Edit deal", editForm],
  ["MARK_WON", "Mark won", wonForm],
  ["MARK_LOST", "Mark lost", lostForm],
];

function row(label, ...value) {
  return h("div", {}, h("dt", {}, label), h("dd", {}, ...value));
}

async function labelsOf(api, enumName) {
  try {
    return new Map((await enumValues(api, enumName)).map((o) => [o.value, o.label]));
  } catch (err) {
    return new Map();
  }
}

export function mount(el, ctx) {
  const id = ctx.route.segments[0];
  const pane = {
    ctx,
    lead: null,
    busy: false,
    form: null, // {form, opener}
    closeForm,
    reload,
    changed,
  };
  let closed = false;
  const status = h("p", { class: "meta", role: "status" }, "Loading lead…");
  el.append(status);

  function back() {
    ctx.navigate(ctx.inboxHash());
  }

  function onKey(event) {
    if (event.key !== "Escape") return;
    event.preventDefault();
    if (pane.form) closeForm();
    else back();
  }

  function closeForm() {
    if (!pane.form) return;
    const { form, opener } = pane.form;
    form.remove();
    pane.form = null;
    if (opener && opener.isConnected) opener.focus();
  }

  function openForm(opener, make) {
    closeForm();
    const made = make(pane);
    pane.form = { form: made.form, opener };
    el.querySelector(".form-slot").append(made.form);
    made.focus();
  }

  // After a change this pane made: the list hears of it, the pane shows the new state.
  async function changed(lead, message) {
    if (lead) document.dispatchEvent(new CustomEvent(LEAD_CHANGED, { detail: lead }));
    pane.form = null;
    await reload({ focus: true });
    ctx.announce(message);
  }

  async function reload({ focus = false } = {}) {
    let lead;
    try {
      lead = (await ctx.api.query(DETAIL, { id })).lead;
    } catch (err) {
      status.textContent = err.message;
      return;
    }
    if (closed) return;
    if (!lead) {
      clear(el);
      el.append(
        h("h2", { tabindex: "-1" }, "Lead not found"),
        h("p", {}, "It may belong to another organisation, or the link is wrong."),
        h("button", { type: "button", onclick: back }, "Back to the list"),
      );
      return;
    }
    pane.lead = lead;
    pane.form = null;
    await render(lead);
    if (focus) el.querySelector("h2").focus();
  }

  async function render(lead) {
    const [sizes, declineReasons, lostReasons] = await Promise.all([
      labelsOf(ctx.api, "CompanySize"),
      lead.deal && lead.deal.declineReason ? labelsOf(ctx.api, "DeclineReason") : new Map(),
      lead.deal && lead.deal.lostReason ? labelsOf(ctx.api, "LostReason") : new Map(),
    ]);
    if (closed) return;
    clear(el);
    const { customer, deal } = lead;
    const actions = lead.allowedActions;
    const works = actions.length > 0;
    const buttons = [];
    for (const [action, label, make] of ACTION_BUTTONS) {
      if (!actions.includes(action)) continue;
      const button = h("button", { type: "button", class: action === "ACCEPT" ? "primary" : action === "DECLINE" || action === "MARK_LOST" ? "danger" : "", onclick: () => openForm(button, make) }, label);
      buttons.push(button);
    }
    if (works) {
      const assign = h("button", { type: "button", onclick: () => openForm(assign, assignForm) }, "Assign owner");
      const note = h("button", { type: "button", onclick: () => openForm(note, noteForm) }, "Log activity");
      buttons.push(assign, note);
      if (!lead.customerContactedAt) {
        buttons.push(h("button", { type: "button", onclick: markContacted }, "Mark customer contacted"));
      }
    }

    append(
      el,
      h(
        "div",
        { class: "detail-head" },
        h("h2", { tabindex: "-1" }, customer.companyName),
        h("button", { type: "button", onclick: back, "aria-label": "Back to the list (Escape)" }, "← Back"),
      ),
      lead.stage === "ARCHIVED"
        ? h("p", { class: "notice" }, `This lead is archived (${humanize(lead.outcome)}). It can be read, not changed.`)
        : null,
      !works && lead.stage !== "ARCHIVED"
        ? h("p", { class: "notice" }, "You can read this lead; working it needs a lead manager's role.")
        : null,
      h(
        "dl",
        {},
        row("Stage", lead.outcome ? `${humanize(lead.stage)} · ${humanize(lead.outcome)}` : humanize(lead.stage)),
        row("Type", humanize(lead.type)),
        row("Received", formatDate(lead.receivedAt)),
        lead.timeLeftToRespond !== null
          ? row("Respond by", formatDate(lead.respondBy), " — ", formatCountdown(lead.timeLeftToRespond))
          : null,
        lead.respondedAt ? row("Answered", formatDate(lead.respondedAt)) : null,
        row("Owner", lead.owner ? `${lead.owner.name} (${lead.owner.email})` : "Unassigned"),
        row("Sent by", [lead.sender.name, lead.sender.organisationName].filter(Boolean).join(", ") || humanize(lead.sender.kind)),
        lead.contactAlert ? row("Contact", flame(lead.contactAlert)) : null,
        lead.customerContactedAt ? row("Customer contacted", formatDate(lead.customerContactedAt)) : null,
      ),
      buttons.length ? h("div", { class: "actions", role: "group", "aria-label": "Actions" }, buttons) : null,
      h("div", { class: "form-slot" }),
      h("h3", {}, "Customer"),
      h(
        "dl",
        {},
        row("Company", customer.companyName),
        row("Size", sizes.get(customer.companySize) || humanize(customer.companySize)),
        customer.industry ? row("Industry", customer.industry) : null,
        row("Country", customer.country),
        row("Need", customer.need || "Redacted"),
      ),
      h("h3", {}, "Contact"),
      customer.contactHidden
        ? h("p", {}, "Hidden: the contact details are no longer shown for this lead.")
        : h(
            "dl",
            {},
            row("Name", customer.contactName || "—"),
            row("E-mail", customer.contactEmail ? h("a", { href: `mailto:${customer.contactEmail}` }, customer.contactEmail) : "—"),
            row("Phone", customer.contactPhone || "—"),
            row("Asked to be contacted", customer.contactRequested ? "Yes" : "No"),
          ),
      deal ? h("h3", {}, "Deal") : null,
      deal
        ? h(
            "dl",
            {},
            deal.name ? row("Deal name", deal.name) : null,
            deal.estimatedValue ? row("Estimated value", formatMoney(deal.estimatedValue)) : null,
            deal.estimatedPurchaseDate ? row("Estimated purchase", formatDate(deal.estimatedPurchaseDate, { time: false })) : null,
            deal.notes ? row("Notes", deal.notes) : null,
            deal.crmId ? row("CRM id", deal.crmId) : null,
            deal.campaignId ? row("Campaign id", deal.campaignId) : null,
            deal.declineReason ? row("Declined because", declineReasons.get(deal.declineReason) || humanize(deal.declineReason)) : null,
            deal.declineNotes ? row("Decline notes", deal.declineNotes) : null,
            deal.finalValue ? row("Final value", formatMoney(deal.finalValue)) : null,
            deal.closingDate ? row("Closed", formatDate(deal.closingDate, { time: false })) : null,
            deal.lostReason ? row("Lost because", lostReasons.get(deal.lostReason) || humanize(deal.lostReason)) : null,
            deal.lostNotes ? row("Lost notes", deal.lostNotes) : null,
          )
        : null,
      teamSection(lead),
      h("h3", {}, "Activity"),
      lead.activities.length
        ? h(
            "ul",
            { class: "activities" },
            lead.activities.map((a) =>
              h("li", {}, h("strong", {}, humanize(a.kind)), ` · ${formatDate(a.occurredAt)} · ${a.author.name || humanize(a.author.kind)}`, h("p", {}, a.body)),
            ),
          )
        : h("p", { class: "meta" }, "Nothing logged yet."),
      h("h3", {}, "History"),
      h(
        "ul",
        { class: "history" },
        lead.history.map((entry) =>
          h("li", {}, `${formatDate(entry.at)} · ${humanize(entry.action)}`, entry.outcome ? ` (${humanize(entry.outcome)})` : "", ` · ${entry.actor.name || humanize(entry.actor.kind)}`),
        ),
      ),
    );
  }

  function teamSection(lead) {
    const canAdd = lead.allowedActions.includes("ADD_TEAM_MEMBER");
    const canRemove = lead.allowedActions.includes("REMOVE_TEAM_MEMBER");
    if (!lead.team.length && !canAdd) return null;
    const add = canAdd ? h("button", { type: "button", onclick: () => openForm(add, addMemberForm) }, "Add team member") : null;
    return h(
      "section",
      { "aria-label": "Team" },
      h("h3", {}, "Team"),
      lead.team.length
        ? h(
            "ul",
            { class: "team" },
            lead.team.map((member) =>
              h(
                "li",
                {},
                h("span", {}, member.name, member.email ? ` · ${member.email}` : "", member.phone ? ` · ${member.phone}` : ""),
                canRemove
                  ? h("button", { type: "button", class: "danger", onclick: () => removeMember(member) }, `Remove ${member.name}`)
                  : null,
              ),
            ),
          )
        : h("p", { class: "meta" }, "No team members yet."),
      add,
    );
  }

  async function simple(mutation, key, input, message) {
    pane.busy = true;
    try {
      const payload = (await ctx.api.query(mutation, { input: { id, expectedVersion: pane.lead.version, ...input } }))[key];
      if (payload.errors.length) {
        ctx.announce(payload.errors[0].code === "CONFLICT" ? "Someone else changed this lead: it was reloaded." : payload.errors[0].message);
        await reload({ focus: true });
        return;
      }
      await changed(payload.lead, message);
    } catch (err) {
      ctx.announce(err.message);
    } finally {
      pane.busy = false;
    }
  }

  function removeMember(member) {
    return simple(MUTATIONS.removeMember, "removeLeadTeamMember", { memberId: member.id }, `${member.name} removed from the team`);
  }

  function markContacted() {
    return simple(MUTATIONS.contacted, "markCustomerContacted", {}, "Customer marked as contacted");
  }

  // A colleague's change: shown at once, unless a form is open (then offered as a reload).
  function onEvent(event) {
    if (!pane.lead || pane.busy) return;
    if (event && event.leadId !== id) return;
    if (event && event.current && event.current.version && event.current.version <= pane.lead.version) return;
    if (pane.form) {
      const slot = el.querySelector(".form-slot");
      if (!slot.querySelector(".changed-notice")) {
        slot.prepend(
          h("p", { class: "notice changed-notice", role: "status" }, "Someone else changed this lead. ",
            h("button", { type: "button", onclick: () => reload({ focus: true }) }, "Reload lead")),
        );
      }
      return;
    }
    reload().then(() => ctx.announce("This lead was changed by someone else; it shows their change now."));
  }

  el.addEventListener("keydown", onKey);
  const offEvents = ctx.onLeadEvent(onEvent);
  reload({ focus: true });
  return () => {
    closed = true;
    el.removeEventListener("keydown", onKey);
    offEvents();
  };
}
