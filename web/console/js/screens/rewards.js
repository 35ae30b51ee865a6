// Rewards (积分兑换): managers keep the catalogue customers redeem points
// for: vouchers such as 维修券 (repair) and 精品券 (accessory).
import { api } from "../api.js";
import { t } from "../i18n.js";
import { h, mount, loading, empty, errorBox, busy, field, dialog, toast } from "../dom.js";

export function render(ctx) {
  const list = h("div", {});
  const add = h("button", { class: "act", type: "button", id: "reward-new", onclick: () => edit(null) }, "+ " + t("rewards.new"));
  mount(ctx.el, h("div", { class: "row between" }, h("h1", { class: "screen-title" }, t("rewards.title")), add), list);

  function edit(r) {
    const name = h("input", { value: r ? r.name : "", maxlength: "128", id: "reward-name" });
    const pts = h("input", { type: "number", min: "1", value: r ? r.points : "", id: "reward-points" });
    const value = h("input", { value: r ? String(r.value) : "", inputmode: "decimal", id: "reward-value" });
    const kind = h("input", { value: r ? r.kind : "voucher", maxlength: "32", id: "reward-kind" });
    const days = h("input", { type: "number", min: "1", value: r ? r.valid_days : 90, id: "reward-days" });
    const stock = h("input", { type: "number", min: "0", value: r && r.stock != null ? r.stock : "", id: "reward-stock" });
    const active = h("input", { type: "checkbox", id: "reward-active", checked: r ? r.active : true });
    const err = h("div", { class: "slot" });
    const save = h("button", { class: "act", type: "button", id: "reward-save", onclick: () => busy(save, async () => {
      const req = { name: name.value, points: Number(pts.value), kind: kind.value, valid_days: Number(days.value), active: active.checked,
        stock: stock.value === "" ? -1 : Number(stock.value) };
      if (value.value.trim() !== "") req.value = Number(value.value);
      if (!r && req.stock < 0) delete req.stock;
      if (r) await api("PATCH", "/rewards/" + r.id, req); else await api("POST", "/rewards", req);
      d.close();
      toast(t("common.saved"));
      load();
    }, err) }, t("common.save"));
    const d = dialog(r ? r.name : t("rewards.new"), [field(t("rewards.name"), name), field(t("rewards.points"), pts),
      field(t("rewards.value"), value), field(t("rewards.kind"), kind, t("rewards.kindHint")), field(t("rewards.days"), days),
      field(t("rewards.stock"), stock, t("rewards.stockHint")), field(t("rewards.active"), active), err], [save]);
  }

  async function load() {
    mount(list, loading());
    try {
      const res = await api("GET", "/rewards");
      if (!res.items.length) return mount(list, empty(t("rewards.empty"), t("rewards.emptyHint")));
      mount(list, h("ul", { class: "plain cards" }, res.items.map((r) => h("li", { class: "card", dataset: { reward: r.id } },
        h("div", { class: "row between" },
          h("strong", {}, r.name, h("span", { class: "muted" }, " · " + r.kind)),
          h("button", { class: "ghost small", type: "button", onclick: () => edit(r) }, t("common.edit"))),
        h("p", { class: "small" }, t("rewards.line", { points: r.points, value: String(r.value), days: r.valid_days }),
          r.stock != null ? " · " + t("rewards.left", { n: r.stock }) : "",
          r.active ? "" : h("span", { class: "chip" }, " " + t("rewards.inactive")))))));
    } catch (e) {
      mount(list, errorBox(e, load));
    }
  }
  load();
}
