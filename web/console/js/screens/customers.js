// The customer list: search by name or phone, filter by tier and stage,
// every page (next_cursor) on request. A report's drill-down opens it as
// #/customers?source=...&created_from=... (also tier, stage,
// owner_staff_id, created_to): those filters show above the list until
// cleared. A customer opens on their own page,
// so a new search never leaves someone else's card open.
import { api, query } from "../api.js";
import { t } from "../i18n.js";
import { h, mount, loading, empty, errorBox, busy } from "../dom.js";
import { timeEl } from "../format.js";

const DRILL = ["source", "owner_staff_id", "created_from", "created_to"];

export function render(ctx) {
  const saved = JSON.parse(sessionStorage.getItem("rapport.customers") || "{}");
  // A drill-down's filters replace what was saved.
  const drill = {};
  if (ctx.params[0]) {
    const u = new URLSearchParams(ctx.params[0]);
    for (const k of DRILL) if (u.get(k)) drill[k] = u.get(k);
    saved.q = "";
    saved.tier = u.get("tier") || "";
    saved.stage = u.get("stage") || "";
  }
  const q = h("input", { type: "search", id: "customer-search", "data-search": true, placeholder: t("customers.search"), "aria-label": t("customers.search"), value: saved.q || "" });
  const tier = h("select", { "aria-label": t("col.tier") }, h("option", { value: "" }, t("customers.anyTier")), ["A", "B", "C"].map((v) => h("option", { value: v, selected: saved.tier === v }, v)));
  const stage = h("select", { "aria-label": t("col.stage") }, h("option", { value: "" }, t("customers.anyStage")),
    ["potential", "new", "active", "at-risk", "churned"].map((v) => h("option", { value: v, selected: saved.stage === v }, t("stage." + v))));
  const go = h("button", { class: "act", type: "submit" }, t("common.search"));
  const results = h("div", { class: "results" });
  const count = h("p", { class: "muted small", role: "status" });
  const more = h("div", { class: "more" });
  const drillBar = Object.keys(drill).length ? h("p", { class: "row drill-bar", id: "customers-drill" }, h("span", { class: "muted small" }, t("customers.drill")),
    Object.entries(drill).map(([k, v]) => h("span", { class: "chip" }, k === "owner_staff_id" ? t("col.owner") + ": " + (v === "0" ? t("common.none") : ctx.staffName(+v)) : k + ": " + v)),
    h("a", { class: "small", href: "#/customers" }, t("customers.clearDrill"))) : null;
  mount(ctx.el, h("h1", { class: "screen-title" }, t("customers.title")), drillBar,
    h("form", { class: "row filters-bar", role: "search", onsubmit: (e) => { e.preventDefault(); search(); } }, q, tier, stage, go),
    count, results, more);

  let cursor = "";
  let rows = [];
  let seq = 0;
  const params = () => ({ q: q.value.trim(), tier: tier.value, stage: stage.value, ...drill });

  function row(c) {
    return h("tr", { class: "click", tabindex: "0", dataset: { id: c.id }, onclick: () => ctx.go("customers/" + c.id),
      onkeydown: (e) => { if (e.key === "Enter") ctx.go("customers/" + c.id); } },
    h("td", {}, h("a", { href: "#/customers/" + c.id }, c.name || t("customer.noName"))),
    h("td", { class: "hide-phone" }, c.phone || t("common.none"), c.phone && !c.phone_verified ? h("span", { class: "muted small" }, " (" + t("customer.phoneClaimed") + ")") : null),
    h("td", {}, c.tier),
    h("td", { class: "hide-phone" }, t("stage." + c.stage)),
    h("td", { class: "hide-phone" }, c.owner_staff_id ? ctx.staffName(c.owner_staff_id) : t("common.none")),
    h("td", { class: "hide-phone" }, (c.tags || []).map((tg) => h("span", { class: "chip" }, tg))),
    h("td", { class: "small" }, c.last_inbound_at ? timeEl(c.last_inbound_at) : t("common.none")));
  }

  function paint() {
    const p = params();
    if (!rows.length) {
      mount(results, p.q || p.tier || p.stage ? empty(t("customers.empty"), t("customers.emptyHint")) : empty(t("customers.none"), t("customers.noneHint")));
    } else {
      mount(results, h("table", {},
        h("thead", {}, h("tr", {}, h("th", {}, t("col.name")), h("th", { class: "hide-phone" }, t("col.phone")), h("th", {}, t("col.tier")),
          h("th", { class: "hide-phone" }, t("col.stage")), h("th", { class: "hide-phone" }, t("col.owner")), h("th", { class: "hide-phone" }, t("col.tags")), h("th", {}, t("col.lastSeen")))),
        h("tbody", {}, rows.map(row))));
    }
    count.textContent = rows.length ? t("customers.count", { n: rows.length }) : "";
    mount(more, cursor ? h("button", { class: "ghost", type: "button", id: "customers-more", onclick: (e) => busy(e.target, page, more) }, t("common.more")) : null);
  }

  async function page() {
    const res = await api("GET", "/customers" + query({ ...params(), limit: 50, cursor }));
    rows = rows.concat(res.items);
    cursor = res.next_cursor;
    paint();
  }

  async function search() {
    const mine = ++seq;
    sessionStorage.setItem("rapport.customers", JSON.stringify({ q: q.value.trim(), tier: tier.value, stage: stage.value }));
    rows = [];
    cursor = "";
    mount(results, loading());
    mount(more);
    try {
      const res = await api("GET", "/customers" + query({ ...params(), limit: 50 }));
      if (mine !== seq) return;
      rows = res.items;
      cursor = res.next_cursor;
      paint();
    } catch (e) {
      mount(results, errorBox(e, search));
    }
  }
  tier.onchange = search;
  stage.onchange = search;
  search();
  q.focus();
}
