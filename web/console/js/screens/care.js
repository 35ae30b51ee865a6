// Care (managers): the next scheduled run of each workflow, a run by hand
// (dry run by default; the date is today in the business zone, not
// UTC's), and past runs with their outcome: planned, queued, skipped by
// reason, tasks opened. A run opens its details.
import { api, query } from "../api.js";
import { t } from "../i18n.js";
import { h, mount, loading, empty, errorBox, busy, field, dialog } from "../dom.js";
import { today, when, full } from "../format.js";

const workflows = ["birthday", "holiday", "maintenance", "survey", "revisit", "winback"];

// reason is a skip reason as people read it; the care service's reasons
// are English phrases, the known ones translated.
export function reason(r) {
  const cap = /^cap: (\d+) messages in (\d+) days$/.exec(r);
  if (cap) return t("care.skip.cap", { n: cap[1], days: cap[2] });
  const key = "care.skip." + r;
  const s = t(key);
  return s === key ? r : s;
}

export function render(ctx) {
  const wf = h("select", { id: "care-workflow" }, workflows.map((w) => h("option", { value: w }, t("wf." + w))));
  const date = h("input", { id: "care-date", type: "date", value: today() });
  const dry = h("input", { type: "checkbox", checked: true, id: "care-dry" });
  const run = h("button", { class: "act", type: "submit", id: "care-run" }, t("care.run"));
  const out = h("div", { class: "slot", role: "status" });
  const schedule = h("div", { id: "care-schedule" });
  const runs = h("div", { class: "table-wrap" });
  const more = h("div", { class: "more" });
  mount(ctx.el, h("h1", { class: "screen-title" }, t("care.title")),
    h("section", { class: "card" }, h("h2", {}, t("care.next")), schedule),
    h("form", { class: "card", onsubmit: (e) => { e.preventDefault(); go(); } },
      h("h2", {}, t("care.byHand")),
      h("div", { class: "row" }, field(t("care.workflow"), wf), field(t("care.date"), date),
        h("label", { class: "check" }, dry, " ", t("care.dryRun")), run),
      h("p", { class: "muted small" }, t("care.byHandHint")), out),
    h("h2", {}, t("care.runs")), runs, more);

  async function go() {
    if (!dry.checked && !confirm(t("care.realConfirm", { wf: t("wf." + wf.value), date: date.value }))) return;
    await busy(run, async () => {
      const r = await api("POST", "/care/runs", { workflow: wf.value, date: date.value, dry_run: dry.checked });
      mount(out, h("p", { class: "ok" }, t("wf." + r.workflow), " ", r.date, "：", t(r.dry_run ? "care.resultDry" : "care.result", r)),
        r.sample && r.sample.length ? h("details", {}, h("summary", {}, t("care.sample", { n: r.sample.length })),
          h("ul", { class: "plain" }, r.sample.map((s) => h("li", { class: "small" }, h("a", { href: "#/customers/" + s.customer_id }, "#" + s.customer_id), " ", s.text)))) : null);
      load();
    }, out);
  }

  async function loadSchedule() {
    mount(schedule, loading());
    try {
      const res = await api("GET", "/care/schedule");
      if (!res.items.length) return mount(schedule, empty(t("care.noSchedule"), t("care.noScheduleHint")));
      mount(schedule, h("ul", { class: "plain schedule" }, res.items.map((r) => h("li", { class: "row between", dataset: { workflow: r.workflow } },
        h("span", {}, h("strong", {}, t("wf." + r.workflow))),
        h("span", { title: full(r.at) }, when(r.at), " ", h("span", { class: "muted small" }, "(" + r.schedule + ")"))))));
    } catch (e) {
      mount(schedule, errorBox(e, loadSchedule));
    }
  }

  let cursor = "";
  function row(r) {
    const skipped = Object.entries(r.skip_reasons || {});
    return h("tr", { class: "click", tabindex: "0", dataset: { run: r.id }, onclick: () => details(r.id), onkeydown: (e) => { if (e.key === "Enter") details(r.id); } },
      h("td", {}, t("wf." + r.workflow), " ", r.dry_run ? h("span", { class: "chip" }, t("care.dry")) : null),
      h("td", {}, r.date),
      h("td", {}, h("span", { class: "chip " + (r.status === "done" ? "ok" : r.status === "failed" ? "bad" : "warn") }, t("care.status." + r.status))),
      h("td", {}, r.planned), h("td", {}, r.dry_run ? r.would_queue : r.queued),
      h("td", {}, r.skipped ? [String(r.skipped), " ", h("span", { class: "muted small hide-phone" }, skipped.slice(0, 2).map(([k, n]) => reason(k) + " " + n).join("，"))] : "0"),
      h("td", { class: "hide-phone" }, r.tasks),
      h("td", { class: "small hide-phone", title: full(r.started_at) }, when(r.started_at)));
  }

  async function load(append) {
    if (!append) { cursor = ""; mount(runs, loading()); }
    try {
      const res = await api("GET", "/care/runs" + query({ limit: 30, cursor }));
      const rows = append ? [...runs.querySelectorAll("tbody tr")] : [];
      if (!res.items.length && !rows.length) { mount(more); return mount(runs, empty(t("care.empty"), t("care.emptyHint"))); }
      cursor = res.next_cursor;
      mount(runs, h("table", {}, h("thead", {}, h("tr", {}, ["workflow", "date", "status", "planned", "queued", "skipped", "tasks", "started"].map((c) =>
        h("th", { class: ["tasks", "started"].includes(c) ? "hide-phone" : null }, t("care.col." + c))))),
      h("tbody", {}, rows, res.items.map(row))));
      mount(more, cursor ? h("button", { class: "ghost", type: "button", onclick: (e) => busy(e.target, () => load(true), more) }, t("common.more")) : null);
    } catch (e) {
      mount(runs, errorBox(e, () => load(false)));
    }
  }

  async function details(id) {
    const el = h("div", {}, loading());
    dialog(t("care.runTitle", { id }), el);
    try {
      const r = await api("GET", "/care/runs/" + id);
      const line = (label, value) => h("div", { class: "kv" }, h("span", { class: "muted" }, label), h("span", {}, value));
      const reasons = Object.entries(r.skip_reasons || {}).sort((a, b) => b[1] - a[1]);
      mount(el,
        h("p", {}, h("strong", {}, t("wf." + r.workflow)), " · ", r.date, " · ", t("care.status." + r.status), r.dry_run ? " · " + t("care.dry") : ""),
        line(t("care.col.planned"), r.planned),
        line(r.dry_run ? t("care.wouldQueue") : t("care.col.queued"), r.dry_run ? r.would_queue : r.queued),
        line(t("care.col.skipped"), r.skipped),
        reasons.length ? h("ul", { class: "plain reasons", id: "care-skip-reasons" }, reasons.map(([k, n]) => h("li", { class: "row between" }, h("span", {}, reason(k)), h("strong", {}, n)))) : null,
        line(t("care.col.tasks"), r.tasks),
        r.failed ? line(t("care.failed"), r.failed) : null,
        r.duplicates ? line(t("care.duplicates"), r.duplicates) : null,
        line(t("care.attempts"), r.attempts),
        line(t("care.col.started"), full(r.started_at)),
        r.finished_at ? line(t("care.finished"), full(r.finished_at)) : null,
        r.error ? h("div", { class: "error", role: "alert" }, r.error) : null);
    } catch (e) {
      mount(el, errorBox(e));
    }
  }

  loadSchedule();
  load(false);
}
