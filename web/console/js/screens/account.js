// My account: password (the fallback to sign-in codes), signed-in devices
// with sign-out per device and everywhere, the new-message sound. Admins
// find everyone's sessions on Tokens and sessions.
import { api, query } from "../api.js";
import { t } from "../i18n.js";
import { h, mount, loading, errorBox, busy, field, toast } from "../dom.js";
import { when, full } from "../format.js";

export function render(ctx) {
  const me = ctx.me;
  const sessions = h("div", {});
  const serr = h("div", { class: "slot" }); // revoke errors; busy clears its slot, so not the list
  const current = h("input", { type: "password", autocomplete: "current-password", maxlength: "128" });
  const next = h("input", { type: "password", autocomplete: "new-password", minlength: "10", maxlength: "128", id: "new-password" });
  const perr = h("div", { class: "slot" });
  const setPw = h("button", { class: "act", type: "submit" }, me.has_password ? t("account.changePassword") : t("account.setPassword"));
  const sound = h("input", { type: "checkbox", checked: localStorage.getItem("rapport.sound") !== "off",
    onchange: (e) => localStorage.setItem("rapport.sound", e.target.checked ? "on" : "off") });
  mount(ctx.el, h("h1", { class: "screen-title" }, t("account.title")),
    h("section", { class: "card" }, h("h2", {}, me.name, " · ", t("role." + me.role)),
      me.chat_bound ? null : h("p", { class: "warn" }, t("account.noChat")),
      h("label", { class: "check" }, sound, " ", t("account.sound"))),
    h("section", { class: "card" }, h("h2", {}, t("account.password")), h("p", { class: "muted small" }, t("account.passwordHint")),
      h("form", { class: "stack", onsubmit: (e) => { e.preventDefault(); password(); } },
        me.has_password ? field(t("account.current"), current) : null, field(t("account.new"), next), setPw, perr)),
    h("section", { class: "card" }, h("div", { class: "row between" }, h("h2", {}, t("account.sessions")),
      h("button", { class: "ghost small", type: "button", onclick: everywhere }, t("account.signOutAll"))), serr, sessions),
    me.role === "admin" ? h("p", {}, h("a", { href: "#/tokens" }, t("account.allSessions") + " →")) : null);

  async function password() {
    await busy(setPw, async () => {
      await api("PUT", "/console/api/password", { current: current.value, password: next.value });
      me.has_password = true;
      current.value = next.value = "";
      toast(t("account.passwordSet"));
    }, perr);
  }

  async function everywhere() {
    if (!confirm(t("account.signOutAllConfirm"))) return;
    await api("POST", "/console/api/sign-out-everywhere");
    window.dispatchEvent(new CustomEvent("rapport:signed-out"));
  }

  function table(items, el, reload) {
    mount(el, h("ul", { class: "plain" }, items.map((s) => h("li", { class: "session" },
      h("div", {}, h("strong", {}, s.staff_name), " ", s.current ? h("span", { class: "chip ok" }, t("account.thisDevice")) : null,
        h("div", { class: "small muted clip" }, s.user_agent || "?", " · ", s.ip)),
      h("div", { class: "small" }, h("span", { title: full(s.created_at) }, t("account.signedIn", { when: when(s.created_at), method: t("method." + s.method) })),
        " · ", h("span", { title: full(s.last_seen_at) }, t("account.lastSeen", { when: when(s.last_seen_at) }))),
      !s.current ? h("button", { class: "ghost small", type: "button", onclick: (e) => busy(e.target, async () => {
        await api("DELETE", "/console/api/sessions/" + s.id);
        reload();
      }, serr) }, t("account.revoke")) : null))));
  }

  async function load(el, all) {
    mount(el, loading());
    try {
      const res = await api("GET", "/console/api/sessions" + query({ all }));
      table(res.items, el, () => load(el, all));
    } catch (e) {
      mount(el, errorBox(e, () => load(el, all)));
    }
  }
  load(sessions, false);
}
