// Campaigns (managers): create one on a saved segment with a template or
// an inline text, dry-run it (counts by outcome, rendered samples), send
// now, schedule or cancel, and read its results (queued, sent, replies,
// orders, revenue; by channel).
import { api, query } from "../api.js";
import { t } from "../i18n.js";
import { h, mount, loading, empty, errorBox, busy, field, dialog, toast } from "../dom.js";
import { when, full, number } from "../format.js";
import { reason } from "./care.js";

export function render(ctx) {
  const seg = h("select", { id: "campaign-segment" });
  const name = h("input", { id: "campaign-name", required: true });
  const body = h("textarea", { id: "campaign-body", rows: "3", placeholder: "{{.Customer.Salutation}}，本周六爱车讲堂，回复报名。" });
  const tpl = h("input", { id: "campaign-template", placeholder: "campaign" });
  const out = h("div", { class: "slot", role: "status" });
  const listEl = h("div", { class: "table-wrap", id: "campaign-list" });
  const form = h("form", { class: "card", id: "campaign-form", onsubmit: (e) => { e.preventDefault(); create(); } },
    h("h2", {}, t("camp.new")),
    h("div", { class: "row" }, field(t("camp.name"), name), field(t("camp.segment"), seg)),
    field(t("camp.body"), body, t("camp.bodyHint")), field(t("camp.template"), tpl),
    h("button", { class: "act", type: "submit", id: "campaign-create" }, t("camp.create")), out);
  mount(ctx.el, h("h1", { class: "screen-title" }, t("nav.campaigns")), form, h("h2", {}, t("camp.list")), listEl);

  async function segments() {
    const res = await api("GET", "/segments" + query({ limit: 100 }));
    mount(seg, res.items.map((d) => h("option", { value: d.id }, d.name)));
  }

  async function create() {
    await busy(form.querySelector("#campaign-create"), async () => {
      const in_ = { name: name.value, segment_id: Number(seg.value) };
      if (tpl.value.trim()) in_.template_key = tpl.value.trim(); else in_.body = body.value;
      const c = await api("POST", "/campaigns", in_);
      toast(t("camp.created", { id: c.id }));
      load();
      open(c.id);
    }, out);
  }

  async function load() {
    mount(listEl, loading());
    try {
      const res = await api("GET", "/campaigns" + query({ limit: 50 }));
      if (!res.items.length) return mount(listEl, empty(t("camp.empty"), t("camp.emptyHint")));
      mount(listEl, h("table", {}, h("tbody", {}, res.items.map((c) => h("tr", { class: "click", dataset: { campaign: c.id }, onclick: () => open(c.id) },
        h("td", {}, "#" + c.id, " ", h("strong", {}, c.name)),
        h("td", {}, h("span", { class: "chip" + (c.status === "done" ? " ok" : c.status === "cancelled" ? " bad" : "") }, t("camp.status." + c.status))),
        h("td", { class: "small", title: c.send_at ? full(c.send_at) : "" }, c.send_at ? when(c.send_at) : ""))))));
    } catch (e) {
      mount(listEl, errorBox(e, load));
    }
  }

  async function open(id) {
    const el = h("div", { id: "campaign-detail" }, loading());
    const slot = h("div", { class: "slot" });
    const at = h("input", { type: "datetime-local", id: "campaign-at" });
    const act = (label, idAttr, fn) => h("button", { type: "button", id: idAttr, onclick: (e) => busy(e.target, fn, slot) }, label);
    dialog(t("camp.title", { id }), el, [
      act(t("camp.dryRun"), "campaign-dry", async () => {
        const d = await api("POST", `/campaigns/${id}/dry-run`);
        mount(slot, h("div", { id: "campaign-dry-result" },
          h("p", {}, t("camp.dryLine", { members: number(d.members), send: number(d.would_send), opted: number(d.opted_out) })),
          h("ul", { class: "plain small" }, Object.entries(d.skipped || {}).map(([k, n]) => h("li", {}, reason(k), " ", n))),
          h("ul", { class: "plain small" }, d.sample.map((s) => h("li", {}, "#" + s.customer_id, " ", s.channel, "：", s.text)))));
      }),
      act(t("camp.send"), "campaign-send", async () => {
        if (!confirm(t("camp.sendConfirm"))) return;
        await api("POST", `/campaigns/${id}/send`);
        toast(t("camp.sending")); show(); load();
      }),
      at,
      act(t("camp.schedule"), "campaign-schedule", async () => {
        await api("POST", `/campaigns/${id}/schedule`, { send_at: new Date(at.value).toISOString() });
        show(); load();
      }),
      act(t("camp.cancel"), "campaign-cancel", async () => {
        if (!confirm(t("camp.cancelConfirm"))) return;
        const r = await api("POST", `/campaigns/${id}/cancel`);
        toast(t("camp.withdrawn", { n: r.withdrawn })); show(); load();
      }),
    ]);
    async function show() {
      try {
        const c = await api("GET", "/campaigns/" + id);
        const r = c.results;
        const line = (label, v) => h("div", { class: "kv" }, h("span", { class: "muted" }, label), h("span", {}, v));
        mount(el, h("p", {}, h("strong", {}, c.name), " · ", h("span", { id: "campaign-status" }, t("camp.status." + c.status))),
          line(t("camp.queued"), number(r.queued)), line(t("camp.sent"), number(r.sent)), line(t("camp.failed"), number(r.failed)),
          line(t("camp.replies"), number(r.replies)), line(t("camp.orders"), number(r.orders)),
          line(t("camp.revenue"), h("span", { id: "campaign-revenue" }, r.revenue)), line(t("camp.optOuts"), number(r.opt_outs)),
          h("ul", { class: "plain small" }, Object.entries(r.by_channel || {}).map(([ch, x]) => h("li", {}, ch, "：", t("camp.channelLine", x)))),
          slot);
      } catch (e) {
        mount(el, errorBox(e));
      }
    }
    show();
  }

  segments().catch((e) => mount(out, errorBox(e)));
  load();
}
