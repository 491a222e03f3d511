// The settings page (stub: a second helper replaces it). mount(el, ctx): see app.js.
import { h } from "./ui.js";

export function mount(el, ctx) {
  const { viewer } = ctx;
  el.append(
    h("h1", {}, "Settings"),
    h(
      "dl",
      { class: "figures" },
      h("div", {}, h("dt", {}, "Name"), h("dd", {}, viewer.user.name)),
      h("div", {}, h("dt", {}, "Organisation"), h("dd", {}, viewer.organisation.name)),
      h("div", {}, h("dt", {}, "Roles"), h("dd", {}, viewer.roles.join(", ") || "none")),
      h("div", {}, h("dt", {}, "Language"), h("dd", {}, viewer.locale)),
      h("div", {}, h("dt", {}, "Time zone"), h("dd", {}, viewer.timeZone)),
    ),
  );
}
