// The lead detail pane (skeleton). mount(el, ctx): see app.js.
import { h } from "./ui.js";

export function mount(el, ctx) {
  el.append(h("h2", {}, "Lead"), h("p", {}, ctx.route.segments[0]));
}
