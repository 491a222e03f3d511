// The pipeline page (stub: a second helper replaces it with charts). mount(el, ctx): see app.js.
import { formatMoney, h } from "./ui.js";

const PIPELINE = `query PipelineOverall {
  pipeline {
    overall {
      received accepted declined expired won lost acceptanceRate winRate
      estimatedValue { amount currency } wonValue { amount currency }
    }
  }
}`;

export async function mount(el, ctx) {
  el.append(h("h1", {}, "Pipeline"));
  const status = h("p", { role: "status" }, "Loading…");
  el.append(status);
  try {
    const { overall } = (await ctx.api.query(PIPELINE)).pipeline;
    const rows = ["received", "accepted", "declined", "expired", "won", "lost"].map((key) =>
      h("div", {}, h("dt", {}, key), h("dd", {}, String(overall[key]))),
    );
    status.remove();
    el.append(
      h("dl", { class: "figures" }, rows),
      h("p", {}, "Won value: ", (overall.wonValue || []).map(formatMoney).join(", ") || "none"),
    );
  } catch (err) {
    status.textContent = err.message;
  }
}
