// The lead inbox (skeleton). mount(el, ctx): see app.js.
import { h } from "./ui.js";

export function mount(el, ctx) {
  el.append(h("h1", {}, "Lead inbox"), h("p", {}, `Signed in as ${ctx.viewer.user.name}.`));
}
