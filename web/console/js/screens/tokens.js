// Tokens and sessions (admins): API tokens for integrations, made with an
// expiry and shown once; revoked at once. Below, everyone's console
// sessions, each of which can be ended (one's own are also on Me).
import { api, query, listAll } from "../api.js";
import { t } from "../i18n.js";
import { h, mount, loading, empty, errorBox, busy, dialog, field, toast, copy } from "../dom.js";
import { when, full, today, addDays } from "../format.js";

export function render(ctx) {
  const tokens = h("div", { class: "table-wrap" });
  const sessions = h("div", {});
  // Revoke errors show above the list; the list itself stays (busy clears its slot).
  const tokensErr = h("div", { class: "slot" });
  const sessionsErr = h("div", { class: "slot" });
  const add = h("button", { class: "act", type: "button", id: "token-new", onclick: create }, "+ " + t("tokens.new"));
  mount(ctx.el, h("div", { class: "row between" }, h("h1", { class: "screen-title" }, t("tokens.title")), add),
    h("section", { class: "card" }, h("h2", {}, t("tokens.tokens")), h("p", { class: "muted small" }, t("tokens.hint")), tokensErr, tokens),
    h("section", { class: "card" }, h("h2", {}, t("tokens.sessions")), h("p", { class: "muted small" }, t("tokens.sessionsHint")), sessionsErr, sessions));

  function state(tk) {
    if (tk.revoked_at) return ["bad", t("tokens.revoked", { when: when(tk.revoked_at) })];
    if (tk.expires_at && new Date(tk.expires_at) <= new Date()) return ["warn", t("tokens.expired")];
    return ["ok", tk.expires_at ? t("tokens.expires", { when: when(tk.expires_at) }) : t("tokens.noExpiry")];
  }

  async function loadTokens() {
    mount(tokens, loading());
    try {
      const items = (await listAll("/tokens")).reverse();
      if (!items.length) return mount(tokens, empty(t("tokens.empty"), t("tokens.emptyHint")));
      mount(tokens, h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, t("tokens.col.name")), h("th", {}, t("staff.col.role")),
        h("th", { class: "hide-phone" }, t("tokens.col.staff")), h("th", { class: "hide-phone" }, t("tokens.col.lastUsed")), h("th", {}, t("tokens.col.state")), h("th", {}))),
      h("tbody", {}, items.map((tk) => {
        const [cls, label] = state(tk);
        return h("tr", { dataset: { token: tk.id } },
          h("td", {}, tk.name, " ", tk.bootstrap ? h("span", { class: "chip" }, t("tokens.bootstrap")) : null,
            h("div", { class: "small muted", title: full(tk.created_at) }, t("tokens.created", { when: when(tk.created_at) }))),
          h("td", {}, t("role." + tk.role)),
          h("td", { class: "hide-phone" }, tk.staff_id ? ctx.staffName(tk.staff_id) : t("common.none")),
          h("td", { class: "hide-phone small", title: full(tk.last_used_at) }, tk.last_used_at ? when(tk.last_used_at) : t("tokens.neverUsed")),
          h("td", {}, h("span", { class: "chip " + cls }, label)),
          h("td", {}, cls === "ok" ? h("button", { class: "ghost small", type: "button", dataset: { revoke: tk.id }, onclick: (e) => {
            if (!confirm(t("tokens.revokeConfirm", { name: tk.name }))) return;
            busy(e.target, async () => {
              await api("DELETE", "/tokens/" + tk.id);
              toast(t("tokens.revokedToast", { name: tk.name }));
              loadTokens();
            }, tokensErr);
          } }, t("tokens.revoke")) : null));
      }))));
    } catch (e) {
      mount(tokens, errorBox(e, loadTokens));
    }
  }

  function create() {
    const name = h("input", { id: "token-name", maxlength: "128", placeholder: t("tokens.namePlaceholder") });
    const role = h("select", { id: "token-role" }, ["agent", "manager", "admin"].map((r) => h("option", { value: r }, t("role." + r))));
    const staff = h("select", { id: "token-staff" }, h("option", { value: "" }, t("tokens.noStaff")),
      ctx.staffList().map((s) => h("option", { value: s.id }, s.name + " · " + t("role." + s.role))));
    const expiry = h("select", { id: "token-expiry" }, [["30", "tokens.exp30"], ["90", "tokens.exp90"], ["365", "tokens.exp365"], ["date", "tokens.expDate"], ["never", "tokens.expNever"]]
      .map(([v, k]) => h("option", { value: v }, t(k))));
    const until = h("input", { type: "date", id: "token-until", hidden: true, min: addDays(today(), 1) });
    expiry.onchange = () => { until.hidden = expiry.value !== "date"; };
    const err = h("div", { class: "slot" });
    const ok = h("button", { class: "act", type: "button", id: "token-create", onclick: () => busy(ok, async () => {
      const req = { name: name.value.trim(), role: role.value };
      if (staff.value) req.staff_id = +staff.value;
      if (expiry.value === "date") {
        if (!until.value) throw new Error(t("tokens.pickDate"));
        req.expires_at = new Date(until.value + "T23:59:59Z").toISOString();
      } else if (expiry.value !== "never") {
        req.ttl_days = +expiry.value;
      }
      const tk = await api("POST", "/tokens", req);
      d.close();
      shown(tk);
      loadTokens();
    }, err) }, t("tokens.create"));
    const d = dialog(t("tokens.new"), [field(t("tokens.col.name"), name), field(t("staff.col.role"), role, t("tokens.roleHint")),
      field(t("tokens.col.staff"), staff, t("tokens.staffHint")), field(t("tokens.expiry"), expiry), until, err], [ok]);
  }

  // shown is the one time the secret is seen.
  function shown(tk) {
    const secret = h("input", { id: "token-secret", readonly: true, value: tk.token, class: "code wide-input", onfocus: (e) => e.target.select() });
    dialog(t("tokens.shownTitle", { name: tk.name }), [
      h("p", { class: "warn" }, t("tokens.shownOnce")), secret,
      h("p", { class: "muted small" }, t("tokens.shownUse")),
    ], [h("button", { class: "act", type: "button", onclick: () => copy(tk.token) }, t("common.copy"))]);
  }

  async function loadSessions() {
    mount(sessions, loading());
    try {
      const res = await api("GET", "/console/api/sessions" + query({ all: true, limit: 200 }));
      if (!res.items.length) return mount(sessions, empty(t("tokens.noSessions")));
      mount(sessions, h("ul", { class: "plain" }, res.items.map((s) => h("li", { class: "session row between", dataset: { session: s.id } },
        h("div", {}, h("strong", {}, s.staff_name), " ", s.current ? h("span", { class: "chip ok" }, t("account.thisDevice")) : null,
          h("div", { class: "small muted clip" }, s.user_agent || "?", " · ", s.ip),
          h("div", { class: "small" }, h("span", { title: full(s.created_at) }, t("account.signedIn", { when: when(s.created_at), method: t("method." + s.method) })),
            " · ", h("span", { title: full(s.last_seen_at) }, t("account.lastSeen", { when: when(s.last_seen_at) })))),
        !s.current ? h("button", { class: "ghost small", type: "button", onclick: (e) => busy(e.target, async () => {
          await api("DELETE", "/console/api/sessions/" + s.id);
          toast(t("account.revoked"));
          loadSessions();
        }, sessionsErr) }, t("account.revoke")) : null))));
    } catch (e) {
      mount(sessions, errorBox(e, loadSessions));
    }
  }

  loadTokens();
  loadSessions();
}
