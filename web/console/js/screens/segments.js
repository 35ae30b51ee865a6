// Segments (managers): build a filter from the common fields (or write
// any filter key as JSON), see the count and a sample at once, save it,
// and open a saved segment's members (CSV export too).
import { api, query } from "../api.js";
import { t } from "../i18n.js";
import { h, mount, loading, empty, errorBox, busy, field, toast } from "../dom.js";
import { number } from "../format.js";

const list = (v) => v.split(/[,，;；\s]+/).map((s) => s.trim()).filter(Boolean);

// filterOf reads the form: the fields, then the advanced JSON on top.
export function filterOf(form) {
  const f = {};
  const tiers = [...form.querySelectorAll("input[name=tier]:checked")].map((i) => i.value);
  if (tiers.length) f.tier = tiers;
  for (const k of ["city", "tags_any", "tags_none"]) {
    const v = list(form.querySelector(`[name=${k}]`).value);
    if (v.length) f[k] = v;
  }
  const kind = form.querySelector("[name=order_kind]").value;
  if (kind) f.order_kind = kind;
  const before = form.querySelector("[name=last_order_days]").value;
  if (before) f.last_order_before = before + "d";
  const risk = form.querySelector("[name=churn_risk_min]").value;
  if (risk) f.churn_risk_min = Number(risk);
  const raw = form.querySelector("[name=advanced]").value.trim();
  if (raw) Object.assign(f, JSON.parse(raw));
  return f;
}

export function render(ctx) {
  const out = h("div", { class: "slot", role: "status", id: "segment-preview" });
  const name = h("input", { id: "segment-name", placeholder: t("seg.namePh") });
  const form = h("form", { class: "card", id: "segment-form", onsubmit: (e) => { e.preventDefault(); preview(); } },
    h("h2", {}, t("seg.build")),
    h("div", { class: "row" }, t("seg.tier"), ...["A", "B", "C"].map((v) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "tier", value: v }), " ", v))),
    h("div", { class: "row" },
      field(t("seg.city"), h("input", { name: "city", id: "segment-city", placeholder: "上海, 杭州" })),
      field(t("seg.tagsAny"), h("input", { name: "tags_any" })),
      field(t("seg.tagsNone"), h("input", { name: "tags_none" }))),
    h("div", { class: "row" },
      field(t("seg.orderKind"), h("select", { name: "order_kind", id: "segment-order-kind" }, h("option", { value: "" }, t("common.all")),
        h("option", { value: "purchase" }, t("seg.purchase")), h("option", { value: "service" }, t("seg.service")))),
      field(t("seg.lastOrderDays"), h("input", { name: "last_order_days", id: "segment-days", type: "number", min: "0" })),
      field(t("seg.churnMin"), h("input", { name: "churn_risk_min", type: "number", min: "0", max: "100" }))),
    field(t("seg.advanced"), h("textarea", { name: "advanced", id: "segment-advanced", rows: "2", placeholder: '{"rfm_segment": ["important_retain"], "asset_kind": ["car"]}' }), t("seg.advancedHint")),
    h("div", { class: "row" }, h("button", { class: "act", type: "submit", id: "segment-count" }, t("seg.count")),
      name, h("button", { type: "button", id: "segment-save", onclick: (e) => save(e.target) }, t("seg.save"))),
    out);
  const saved = h("div", { class: "table-wrap", id: "segment-list" });
  const members = h("div", { id: "segment-members" });
  mount(ctx.el, h("h1", { class: "screen-title" }, t("nav.segments")), form, h("h2", {}, t("seg.saved")), saved, members);

  function filter() {
    try { return filterOf(form); } catch (e) { throw Object.assign(new Error(t("seg.badJSON")), { status: 422 }); }
  }

  async function preview() {
    await busy(form.querySelector("#segment-count"), async () => {
      const r = await api("POST", "/segments/preview", { filter: filter() });
      mount(out, h("p", { class: "ok", id: "segment-total" }, t("seg.total", { n: number(r.count) })),
        h("ul", { class: "plain small" }, r.sample.map((m) => h("li", {}, h("a", { href: "#/customers/" + m.id }, m.name || "#" + m.id),
          " · ", m.tier, " · ", m.city || "—", " · ", m.channels.join("/")))));
    }, out);
  }

  async function save(btn) {
    await busy(btn, async () => {
      const d = await api("POST", "/segments", { name: name.value, filter: filter() });
      toast(t("seg.savedToast", { name: d.name, n: number(d.count) }));
      load();
    }, out);
  }

  async function load() {
    mount(saved, loading());
    try {
      const res = await api("GET", "/segments" + query({ limit: 100 }));
      if (!res.items.length) return mount(saved, empty(t("seg.empty"), t("seg.emptyHint")));
      mount(saved, h("table", {}, h("tbody", {}, res.items.map((d) => h("tr", { dataset: { segment: d.id } },
        h("td", {}, h("strong", {}, d.name)), h("td", { class: "small muted" }, JSON.stringify(d.filter)),
        h("td", {}, h("button", { class: "ghost", type: "button", onclick: () => showMembers(d) }, t("seg.members"))))))));
    } catch (e) {
      mount(saved, errorBox(e, load));
    }
  }

  async function showMembers(d, cursor = "") {
    mount(members, loading());
    try {
      const [one, res] = await Promise.all([api("GET", "/segments/" + d.id), api("GET", `/segments/${d.id}/members` + query({ limit: 50, cursor }))]);
      mount(members, h("section", { class: "card" },
        h("h2", {}, d.name, " · ", t("seg.total", { n: number(one.count) })),
        h("a", { href: `/api/v1/segments/${d.id}/members?format=csv`, download: `segment-${d.id}.csv`, id: "segment-csv" }, t("seg.csv")),
        h("table", {}, h("tbody", {}, res.items.map((m) => h("tr", {}, h("td", {}, h("a", { href: "#/customers/" + m.id }, m.name || "#" + m.id)),
          h("td", {}, m.tier), h("td", {}, m.city), h("td", { class: "small" }, m.channels.join("/")))))),
        res.next_cursor ? h("button", { class: "ghost", type: "button", onclick: () => showMembers(d, res.next_cursor) }, t("common.more")) : null));
    } catch (e) {
      mount(members, errorBox(e));
    }
  }

  load();
}
