// Staff and their chat bindings (managers and admins): who chat reaches,
// who has open tasks, and a warning for anyone with tasks but no bound
// chat account, with the binding code to fix it right there. Admins also
// add staff, change roles and set initial passwords; only admins act on
// admins (the buttons are not shown to managers).
import { api, listAll } from "../api.js";
import { t } from "../i18n.js";
import { h, mount, loading, empty, errorBox, busy, dialog, field, toast, copy } from "../dom.js";
import { when, full } from "../format.js";

export function render(ctx) {
  const admin = ctx.me.role === "admin";
  const warnings = h("div", { id: "staff-warnings" });
  const list = h("div", { class: "table-wrap" });
  const add = admin ? h("button", { class: "act", type: "button", id: "staff-new", onclick: create }, "+ " + t("staff.new")) : null;
  mount(ctx.el, h("div", { class: "row between" }, h("h1", { class: "screen-title" }, t("staff.title")), add),
    h("p", { class: "muted small" }, t("staff.hint")), warnings, list);

  const mayManage = (s) => admin || s.role !== "admin";

  async function load() {
    mount(list, loading());
    let staff;
    try {
      staff = await listAll("/staff");
    } catch (e) {
      return mount(list, errorBox(e, load));
    }
    const unreachable = staff.filter((s) => s.active && s.open_tasks > 0 && !s.chat_bound);
    mount(warnings, unreachable.length ? h("div", { class: "warn-box", role: "alert" },
      h("strong", {}, "⚠ " + t("staff.unreachableTitle")),
      h("ul", { class: "plain" }, unreachable.map((s) => h("li", { class: "row between" },
        h("span", {}, t("staff.unreachableLine", { name: s.name, n: s.open_tasks })),
        mayManage(s) ? h("button", { class: "act small", type: "button", dataset: { bindFor: s.id }, onclick: () => bindingCode(s) }, t("staff.bindingCode")) : null)))) : null);
    if (!staff.length) return mount(list, empty(t("staff.empty"), t("staff.emptyHint"), add ? add.cloneNode(true) : null));
    mount(list, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, t("col.name")), h("th", {}, t("staff.col.role")), h("th", {}, t("staff.col.chat")),
        h("th", {}, t("staff.col.tasks")), h("th", { class: "hide-phone" }, t("staff.col.since")), h("th", {}))),
      h("tbody", {}, staff.map((s) => h("tr", { dataset: { staff: s.id }, class: s.active ? "" : "muted" },
        h("td", {}, s.name, " ", s.active ? null : h("span", { class: "chip" }, t("staff.inactive"))),
        h("td", {}, t("role." + s.role)),
        h("td", {}, s.chat_bound
          ? h("span", { class: "chip ok", title: (s.identities || []).map((i) => t("channel." + i.channel)).join(", ") }, "✓ " + (s.identities || []).map((i) => t("channel." + i.channel)).join(", "))
          : h("span", { class: "chip" + (s.open_tasks > 0 && s.active ? " bad" : " warn") }, t("staff.notBound"))),
        h("td", {}, s.open_tasks > 0 ? h("a", { href: "#/tasks" , onclick: () => sessionStorage.setItem("rapport.tasks", JSON.stringify({ tab: "queue", whose: String(s.id) })) }, String(s.open_tasks)) : "0"),
        h("td", { class: "hide-phone small", title: full(s.created_at) }, when(s.created_at)),
        h("td", { class: "actions" }, mayManage(s) ? actions(s) : null))))));
  }

  function actions(s) {
    const out = [];
    if (s.active) out.push(h("button", { class: "ghost small", type: "button", dataset: { bind: s.id }, onclick: () => bindingCode(s) }, t("staff.bindingCode")));
    if (admin && s.id !== ctx.me.staff_id) out.push(h("button", { class: "ghost small", type: "button", onclick: () => password(s) }, t("staff.setPassword")));
    if (admin && s.id !== ctx.me.staff_id) out.push(h("button", { class: "ghost small", type: "button", onclick: () => role(s) }, t("staff.changeRole")));
    if (s.id !== ctx.me.staff_id) {
      out.push(h("button", { class: "ghost small", type: "button", onclick: (e) => {
        if (s.active && !confirm(t("staff.deactivateConfirm", { name: s.name, n: s.open_tasks }))) return;
        busy(e.target, async () => {
          await api("PATCH", "/staff/" + s.id, { active: !s.active });
          toast(s.active ? t("staff.deactivated", { name: s.name }) : t("staff.activated", { name: s.name }));
          load();
        }, warnings);
      } }, s.active ? t("staff.deactivate") : t("staff.activate")));
    }
    return h("div", { class: "row" }, out);
  }

  // bindingCode issues a one-time code the person sends as /bind CODE.
  async function bindingCode(s) {
    const out = h("div", {}, loading());
    dialog(t("staff.bindingCodeTitle", { name: s.name }), out);
    try {
      const c = await api("POST", `/staff/${s.id}/binding-codes`);
      mount(out,
        h("p", {}, t("staff.bindingCodeHow")),
        h("p", { class: "code-big", id: "binding-code" }, "/bind " + c.code),
        h("p", { class: "muted small" }, t("staff.bindingCodeExpires", { when: when(c.expires_at) })),
        h("button", { class: "ghost small", type: "button", onclick: () => copy("/bind " + c.code) }, t("common.copy")));
    } catch (e) {
      mount(out, errorBox(e));
    }
  }

  function create() {
    const name = h("input", { id: "staff-name", maxlength: "128" });
    const r = h("select", { id: "staff-role" }, ["agent", "manager", "admin"].map((x) => h("option", { value: x }, t("role." + x))));
    const err = h("div", { class: "slot" });
    const ok = h("button", { class: "act", type: "button", onclick: () => busy(ok, async () => {
      const s = await api("POST", "/staff", { name: name.value.trim(), role: r.value });
      d.close();
      toast(t("staff.created", { name: s.name }));
      await load();
      bindingCode(s);
    }, err) }, t("staff.create"));
    const d = dialog(t("staff.new"), [field(t("col.name"), name), field(t("staff.col.role"), r), h("p", { class: "muted small" }, t("staff.newHint")), err], [ok]);
  }

  function role(s) {
    const r = h("select", {}, ["agent", "manager", "admin"].map((x) => h("option", { value: x, selected: x === s.role }, t("role." + x))));
    const err = h("div", { class: "slot" });
    const ok = h("button", { class: "act", type: "button", onclick: () => busy(ok, async () => {
      await api("PATCH", "/staff/" + s.id, { role: r.value });
      d.close();
      toast(t("common.saved"));
      load();
    }, err) }, t("common.save"));
    const d = dialog(t("staff.changeRoleTitle", { name: s.name }), [field(t("staff.col.role"), r), err], [ok]);
  }

  function password(s) {
    const pw = h("input", { type: "password", autocomplete: "new-password", minlength: "10", maxlength: "128" });
    const err = h("div", { class: "slot" });
    const ok = h("button", { class: "act", type: "button", onclick: () => busy(ok, async () => {
      await api("PUT", `/staff/${s.id}/password`, { password: pw.value });
      d.close();
      toast(t("account.passwordSet"));
    }, err) }, t("common.save"));
    const d = dialog(t("staff.setPasswordTitle", { name: s.name }), [field(t("account.new"), pw, t("staff.setPasswordHint")), err], [ok]);
  }

  load();
}
