// The audit log (managers and admins): who did what, when, through what,
// newest first; filter by person, kind of action and dates.
import { api, query } from "../api.js";
import { t } from "../i18n.js";
import { h, mount, loading, empty, errorBox, busy } from "../dom.js";
import { when, full } from "../format.js";

const nouns = ["token", "staff", "session", "template", "phone_claim", "care_run", "outbox", "quick_reply", "customer", "import"];

// subjectLink links an event's subject where the console has a page for it.
function subjectLink(e) {
  const label = t("audit.subject." + e.subject_type) + (e.subject_id ? " " + (/^\d+$/.test(e.subject_id) ? "#" : "") + e.subject_id : "");
  const href = {
    customer: "#/customers/" + e.subject_id, staff: "#/staff", template: "#/templates", import_job: "#/imports",
    care_run: "#/care", token: "#/tokens", quick_reply: "#/quick-replies",
  }[e.subject_type];
  return href ? h("a", { href }, label) : label;
}

// label is a summary key as people read it (the key itself when the
// dictionary has no word for it).
function label(k) {
  const s = t("audit.key." + k);
  return s === "audit.key." + k ? k : s;
}

// value is a summary value as people read it: times in the business
// zone, roles and yes/no in words.
function value(k, v) {
  if (Array.isArray(v)) return v.join(", ");
  if (typeof v === "boolean") return v ? t("common.yes") : t("common.no");
  if (typeof v === "string" && /^\d{4}-\d{2}-\d{2}T/.test(v)) return full(v);
  if (k === "role") return t("role." + v);
  if (k === "bytes") return v < 1024 * 1024 ? (v / 1024).toFixed(1) + " KB" : (v / 1024 / 1024).toFixed(1) + " MB";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

// summary shows an event's change as short key: value chips.
function summary(s) {
  return Object.entries(s || {}).filter(([, v]) => v !== null && v !== "" && !(Array.isArray(v) && !v.length)).map(([k, v]) =>
    h("span", { class: "chip" }, label(k) + t("audit.sep") + value(k, v)));
}

// actorOf names who acted: a staff member, a token, or the system.
function actorOf(e) {
  if (e.staff_id) return e.actor_name;
  if (e.token_id) return t("audit.token", { name: e.actor_name });
  return t("audit.system");
}

export function render(ctx) {
  const saved = JSON.parse(sessionStorage.getItem("rapport.audit") || "{}");
  const actor = h("select", { id: "audit-actor", class: "small", "aria-label": t("audit.actor") }, h("option", { value: "" }, t("audit.anyone")),
    ctx.staffList().map((s) => h("option", { value: s.id, selected: String(s.id) === saved.actor }, s.name)));
  const action = h("select", { id: "audit-action", class: "small", "aria-label": t("audit.action") }, h("option", { value: "" }, t("audit.anyAction")),
    nouns.map((n) => h("option", { value: n, selected: n === saved.action }, t("audit.noun." + n))));
  const from = h("input", { type: "date", id: "audit-from", class: "small", value: saved.from || "", "aria-label": t("audit.from") });
  const to = h("input", { type: "date", id: "audit-to", class: "small", value: saved.to || "", "aria-label": t("audit.to") });
  const list = h("div", {});
  const more = h("div", { class: "more" });
  mount(ctx.el, h("h1", { class: "screen-title" }, t("audit.title")),
    h("div", { class: "row filters-bar" }, actor, action, h("label", { class: "check small" }, t("audit.from"), from), h("label", { class: "check small" }, t("audit.to"), to)),
    list, more);

  let cursor = "";
  let rows = [];
  const params = () => ({ actor: actor.value, action: action.value, from: from.value, to: to.value });

  function item(e) {
    return h("li", { class: "audit-item", dataset: { action: e.action } },
      h("div", { class: "row between" },
        h("span", {}, h("strong", {}, actorOf(e)), " ", t("audit.action." + e.action) === "audit.action." + e.action ? e.action : t("audit.action." + e.action), " ", subjectLink(e)),
        h("span", { class: "small muted", title: full(e.at) }, when(e.at), " · ", t("audit.via." + e.via))),
      h("div", { class: "row small" }, summary(e.summary)));
  }

  function paint() {
    const p = params();
    if (!rows.length) {
      mount(list, p.actor || p.action || p.from || p.to ? empty(t("audit.emptyFiltered"), t("audit.emptyFilteredHint")) : empty(t("audit.empty"), t("audit.emptyHint")));
    } else {
      mount(list, h("ul", { class: "plain card audit-list" }, rows.map(item)));
    }
    mount(more, cursor ? h("button", { class: "ghost", type: "button", onclick: (e) => busy(e.target, page, more) }, t("common.more")) : null);
  }

  async function page() {
    const res = await api("GET", "/audit" + query({ ...params(), limit: 50, cursor }));
    rows = rows.concat(res.items);
    cursor = res.next_cursor;
    paint();
  }

  let seq = 0;
  async function load() {
    const mine = ++seq;
    sessionStorage.setItem("rapport.audit", JSON.stringify(params()));
    rows = [];
    cursor = "";
    mount(list, loading());
    mount(more);
    try {
      const res = await api("GET", "/audit" + query({ ...params(), limit: 50 }));
      if (mine !== seq) return;
      rows = res.items;
      cursor = res.next_cursor;
      paint();
    } catch (e) {
      mount(list, errorBox(e, load));
    }
  }
  for (const el of [actor, action, from, to]) el.onchange = load;
  load();
}
