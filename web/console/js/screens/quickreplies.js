// Quick replies (快捷回复): managers keep the team's canned answers.
import { api } from "../api.js";
import { t } from "../i18n.js";
import { h, mount, loading, empty, errorBox, busy, field, dialog, toast } from "../dom.js";
import { forgetQuickReplies } from "../conversation.js";

export function render(ctx) {
  const list = h("div", {});
  const add = h("button", { class: "act", type: "button", id: "qr-new", onclick: () => edit(null) }, "+ " + t("qr.new"));
  mount(ctx.el, h("div", { class: "row between" }, h("h1", { class: "screen-title" }, t("qr.title")), add), list);

  function edit(q) {
    const title = h("input", { value: q ? q.title : "", maxlength: "64", id: "qr-title" });
    const body = h("textarea", { rows: "5", maxlength: "2000", id: "qr-body" });
    body.value = q ? q.body : "";
    const shortcut = h("input", { value: q ? q.shortcut : "", maxlength: "32", id: "qr-shortcut" });
    const err = h("div", { class: "slot" });
    const save = h("button", { class: "act", type: "button", onclick: () => busy(save, async () => {
      const req = { title: title.value, body: body.value, shortcut: shortcut.value };
      if (q) await api("PATCH", "/quick-replies/" + q.id, req); else await api("POST", "/quick-replies", req);
      forgetQuickReplies();
      d.close();
      toast(t("common.saved"));
      load();
    }, err) }, t("common.save"));
    const d = dialog(q ? q.title : t("qr.new"), [field(t("qr.titleField"), title), field(t("qr.body"), body), field(t("qr.shortcut"), shortcut), err], [save]);
  }

  async function load() {
    mount(list, loading());
    try {
      const res = await api("GET", "/quick-replies");
      if (!res.items.length) return mount(list, empty(t("qr.empty"), t("qr.emptyHint"), add.cloneNode(true)));
      mount(list, h("ul", { class: "plain cards" }, res.items.map((q) => h("li", { class: "card" },
        h("div", { class: "row between" }, h("strong", {}, q.title, q.shortcut ? h("span", { class: "muted" }, " /" + q.shortcut) : null),
          h("span", {},
            h("button", { class: "ghost small", type: "button", onclick: () => edit(q) }, t("common.edit")),
            h("button", { class: "ghost small", type: "button", onclick: (e) => {
              if (!confirm(t("qr.confirmDelete", { title: q.title }))) return;
              busy(e.target, async () => { await api("DELETE", "/quick-replies/" + q.id); forgetQuickReplies(); load(); }, list);
            } }, t("common.delete")))),
        h("p", { class: "pre" }, q.body)))));
      const again = list.querySelector("#qr-new");
      if (again) again.onclick = () => edit(null);
    } catch (e) {
      mount(list, errorBox(e, load));
    }
  }
  load();
}
