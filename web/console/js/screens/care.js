// Care runs (part 1: the old tab in the new shell; the default date is
// today in the business zone, not UTC's. Part 2 adds outcomes, skip
// reasons and the next scheduled runs.)
import { api } from "../api.js";
import { t } from "../i18n.js";
import { h, mount, loading, empty, errorBox, busy, field } from "../dom.js";
import { today, when } from "../format.js";

const workflows = ["birthday", "holiday", "maintenance", "survey", "revisit", "winback"];

export function render(ctx) {
  const wf = h("select", { id: "care-workflow" }, workflows.map((w) => h("option", { value: w }, t("wf." + w))));
  const date = h("input", { id: "care-date", type: "date", value: today() });
  const dry = h("input", { type: "checkbox", checked: true });
  const run = h("button", { class: "act", type: "submit" }, t("care.run"));
  const out = h("div", { class: "slot", role: "status" });
  const runs = h("div", {});
  mount(ctx.el, h("h1", { class: "screen-title" }, t("care.title")),
    h("form", { class: "card row", onsubmit: (e) => { e.preventDefault(); go(); } },
      field(t("care.workflow"), wf), field(t("care.date"), date),
      h("label", { class: "check" }, dry, " ", t("care.dryRun")), run),
    out, h("h2", {}, t("care.runs")), runs);

  async function go() {
    await busy(run, async () => {
      const r = await api("POST", "/care/runs", { workflow: wf.value, date: date.value, dry_run: dry.checked });
      mount(out, h("p", { class: "ok" }, t("wf." + r.workflow), " ", r.date, "：", t("care.result", r)));
      load();
    }, out);
  }

  async function load() {
    mount(runs, loading());
    try {
      const res = await api("GET", "/care/runs");
      if (!res.items.length) return mount(runs, empty(t("care.empty"), t("care.emptyHint")));
      mount(runs, h("table", {}, h("thead", {}, h("tr", {}, ["workflow", "date", "planned", "queued", "skipped", "dry"].map((c) => h("th", {}, t("care.col." + c))))),
        h("tbody", {}, res.items.map((r) => h("tr", {},
          h("td", {}, t("wf." + r.workflow)), h("td", {}, r.date), h("td", {}, r.planned), h("td", {}, r.queued), h("td", {}, r.skipped),
          h("td", {}, r.dry_run ? t("common.yes") : ""))))));
    } catch (e) {
      mount(runs, errorBox(e, load));
    }
  }
  load();
}
