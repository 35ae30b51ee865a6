// One customer: profile (editable by managers), channels, phone and its
// proof, pending phone claims to decide, and the timeline's panels
// (timeline.js): the conversation with a reply box, tasks, and what part 2
// adds.
import { api, query } from "../api.js";
import { t } from "../i18n.js";
import { h, mount, loading, errorBox, busy, dialog, field, toast } from "../dom.js";
import { timeEl, when } from "../format.js";
import { panels } from "../timeline.js";

const yuan = (m) => "¥" + Number(m || 0).toFixed(2);

// figures is the customer's intelligence: spend and orders in the window,
// lifetime, last order, RFM, lifetime value, churn risk and why.
function figures(c, line) {
  const st = c.stats || {};
  const seg = c.rfm && c.rfm.segment;
  return h("div", { id: "customer-figures", class: "figures" },
    line(t("customer.spend"), [yuan(st.spend), " · ", t("customer.orders", { n: st.orders || 0 })]),
    line(t("customer.lifetime"), [yuan(st.lifetime_spend), " · ", t("customer.orders", { n: st.lifetime_orders || 0 }),
      st.avg_order_value ? [" · ", t("customer.aov"), " ", yuan(st.avg_order_value)] : null]),
    line(t("customer.lastOrder"), st.last_order_at ? timeEl(st.last_order_at) : t("common.none")),
    line("RFM", c.rfm ? [`${c.rfm.r}-${c.rfm.f}-${c.rfm.m} `, h("span", { class: "chip", id: "customer-rfm" }, t("rfm." + seg))] : t("common.none")),
    line("CLV", h("span", { id: "customer-clv" }, yuan(c.clv))),
    line(t("customer.churnRisk"), h("span", { id: "customer-risk", class: "chip " + (c.churn_risk >= 60 ? "bad" : c.churn_risk >= 30 ? "warn" : "ok") }, String(c.churn_risk || 0))),
    (c.churn_reasons || []).length ? h("ul", { class: "plain small muted", id: "customer-risk-reasons" }, c.churn_reasons.map((r) => h("li", {}, r))) : null);
}

export async function render(ctx) {
  const id = +ctx.params[0];
  const profile = h("section", { class: "card profile" }, loading());
  const claims = h("div", {});
  const timeline = h("div", { class: "timeline" });
  mount(ctx.el, h("a", { class: "back", href: "#/customers" }, "← " + t("nav.customers")),
    h("div", { class: "customer-page" }, h("div", { class: "customer-side" }, profile, claims), timeline));

  let c;
  try {
    c = await api("GET", "/customers/" + id);
  } catch (e) {
    mount(profile, errorBox(e.status === 404 ? { message: t("customer.notFound") } : e));
    return;
  }
  ctx.setTitle(c.name || t("customer.noName"));
  paintProfile();
  if (ctx.can("admin", "manager")) loadClaims();

  const cleanups = [];
  for (const p of panels.filter((p) => p.roles.includes(ctx.me.role))) {
    const body = h("div", { class: "panel-body" });
    timeline.append(h("section", { class: "card panel" + (p.wide ? " wide" : ""), dataset: { panel: p.id } },
      h("h2", {}, t(p.title)), body));
    const off = p.render(ctx, c, body);
    if (typeof off === "function") cleanups.push(off);
  }

  function paintProfile() {
    const line = (label, value) => h("div", { class: "kv" }, h("span", { class: "muted" }, label), h("span", {}, value));
    mount(profile,
      h("div", { class: "row between" },
        h("h1", { id: "customer-name" }, c.name || t("customer.noName")),
        ctx.can("admin", "manager") ? h("button", { class: "ghost small", type: "button", id: "edit-customer", onclick: edit }, t("customer.edit")) : null),
      h("div", { class: "row" },
        h("span", { class: "chip", id: "customer-tier", title: c.tier_pinned ? t("customer.pinned") : "" }, t("col.tier") + " " + c.tier + (c.tier_pinned ? " 📌" : "")),
        h("span", { class: "chip", id: "customer-stage", title: c.stage_pinned ? t("customer.pinned") : "" }, t("stage." + c.stage) + (c.stage_pinned ? " 📌" : "")),
        c.opt_out ? h("span", { class: "chip bad" }, t("customer.optOut")) : null,
        (c.tags || []).map((tg) => h("span", { class: "chip tag" }, tg))),
      line(t("col.phone"), c.phone ? [c.phone, " ", h("span", { class: "chip " + (c.phone_verified ? "ok" : "warn") },
        c.phone_verified ? t("customer.phoneVerified") : t("customer.phoneClaimed"))] : t("common.none")),
      line(t("col.owner"), c.owner_staff_id ? ctx.staffName(c.owner_staff_id) : t("customer.ownerNone")),
      line(t("customer.birthday"), c.birthday || t("common.none")),
      c.email ? line(t("customer.email"), c.email) : null,
      c.gender ? line(t("customer.gender"), t("customer.gender." + c.gender)) : null,
      c.company ? line(t("customer.company"), c.company) : null,
      line(t("customer.points"), String(c.points)),
      figures(c, line),
      line(t("col.source"), c.source || t("common.none")),
      line(t("customer.identities"), h("ul", { class: "plain" }, (c.identities || []).map((i) =>
        h("li", {}, h("span", { class: "chip ch-" + i.channel }, t("channel." + i.channel)), " ", i.display_name || i.external_id,
          i.unreachable ? h("span", { class: "chip bad" }, i.unreachable_reason || "unreachable") : null)))),
      h("p", { class: "muted small" }, t("customer.since", { when: when(c.created_at) })));
  }

  function edit() {
    const str = (v) => h("input", { value: v || "", maxlength: "128" });
    const f = {
      name: str(c.name), phone: str(c.phone), email: str(c.email), birthday: h("input", { value: c.birthday || "", placeholder: "YYYY-MM-DD / MM-DD" }),
      company: str(c.company), tags: str((c.tags || []).join(", ")),
      gender: h("select", {}, ["", "male", "female"].map((g) => h("option", { value: g, selected: c.gender === g }, t("customer.gender." + g)))),
      owner: h("select", {}, h("option", { value: "0" }, t("customer.ownerNone")),
        ctx.staffList().map((s) => h("option", { value: s.id, selected: s.id === c.owner_staff_id }, s.name))),
      optOut: h("input", { type: "checkbox", checked: c.opt_out }),
    };
    const err = h("div", { class: "slot" });
    const save = h("button", { class: "act", type: "button", onclick: () => busy(save, async () => {
      const body = {
        name: f.name.value.trim(), email: f.email.value.trim(), company: f.company.value.trim(), gender: f.gender.value,
        tags: f.tags.value.split(/[,，;；]/).map((s) => s.trim()).filter(Boolean),
        owner_staff_id: +f.owner.value, opt_out: f.optOut.checked,
      };
      if (f.phone.value.trim() !== (c.phone || "")) body.phone = f.phone.value.trim();
      if (f.birthday.value.trim() !== (c.birthday || "")) body.birthday = f.birthday.value.trim();
      c = await api("PATCH", "/customers/" + id, body);
      d.close();
      toast(t("common.saved"));
      paintProfile();
    }, err) }, t("common.save"));
    const d = dialog(t("customer.edit"), h("div", { class: "form-grid" },
      field(t("col.name"), f.name), field(t("col.phone"), f.phone), field(t("customer.email"), f.email),
      field(t("customer.birthday"), f.birthday), field(t("customer.gender"), f.gender), field(t("customer.company"), f.company),
      field(t("col.tags"), f.tags, t("customer.tagsHint")), field(t("col.owner"), f.owner),
      h("label", { class: "check" }, f.optOut, " ", t("customer.optOut")), err), [save]);
  }

  async function loadClaims() {
    try {
      const res = await api("GET", "/phone-claims" + query({ status: "pending", customer_id: id }));
      if (!res.items.length) return mount(claims);
      mount(claims, h("section", { class: "card" }, h("h2", {}, t("customer.claims")),
        h("ul", { class: "plain" }, res.items.map((cl) => {
          const err = h("div", { class: "slot" });
          const decide = (what) => (e) => busy(e.target, async () => {
            if (what === "approve" && !confirm(t("customer.approveConfirm"))) return;
            const res = await api("POST", `/phone-claims/${cl.id}/${what}`);
            toast(t("common.saved"));
            if (what === "approve" && res && res.kept_id && res.kept_id !== id) ctx.go("customers/" + res.kept_id);
            else loadClaims();
          }, err);
          const who = cl.claimant_id === id ? t("conv.customer") : "#" + cl.claimant_id;
          return h("li", { class: "claim" },
            h("div", {}, t("customer.claimLine", { who, phone: cl.phone, method: t("customer.claimMethod." + cl.method) }), " · ", timeEl(cl.created_at)),
            h("div", { class: "row" }, cl.claimant_id !== id ? h("a", { href: "#/customers/" + cl.claimant_id }, "#" + cl.claimant_id) : null,
              cl.target_id !== id ? h("a", { href: "#/customers/" + cl.target_id }, "#" + cl.target_id) : null,
              h("span", { class: "grow" }),
              h("button", { class: "act small", type: "button", onclick: decide("approve") }, t("customer.approve")),
              h("button", { class: "ghost small", type: "button", onclick: decide("reject") }, t("customer.reject"))), err);
        }))));
    } catch (e) {
      mount(claims, errorBox(e, loadClaims));
    }
  }

  return () => cleanups.forEach((f) => f());
}
