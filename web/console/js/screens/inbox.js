// The shared inbox: who is waiting for a reply, oldest first, with the
// conversation beside the list (one column on a phone). The list follows
// the live stream.
import { api, query } from "../api.js";
import { t } from "../i18n.js";
import { h, mount, loading, empty, errorBox, busy } from "../dom.js";
import { timeEl } from "../format.js";
import { conversationView } from "../conversation.js";

const views = ["waiting", "open", "pending", "resolved", "all"];

// nameOf is what to call a customer without a name (a web chat visitor).
export function nameOf(c) {
  return c.customer_name || c.name || t("customer.visitor", { channel: t("channel." + (c.channel || "webchat")), id: c.customer_id || c.id });
}

export function render(ctx) {
  const selected = ctx.params[0] ? +ctx.params[0] : 0;
  const saved = JSON.parse(sessionStorage.getItem("rapport.inbox") || "{}");
  const f = { view: saved.view || "waiting", assignee: saved.assignee || "", channel: saved.channel || "", complaint: !!saved.complaint };

  const listEl = h("ul", { class: "inbox-list", role: "listbox", "aria-label": t("inbox.title") });
  const more = h("div", { class: "more" });
  const pane = h("div", { class: "inbox-pane" });
  const filters = h("div", { class: "filters" });
  const side = h("div", { class: "inbox-side" + (selected ? " hide-phone" : "") }, filters, h("div", { class: "inbox-scroll" }, listEl, more));
  mount(ctx.el, h("div", { class: "inbox" + (selected ? " has-pane" : "") }, side, pane));

  let cursor = "";
  let items = [];
  let conv = null;

  function paintFilters() {
    const save = () => { sessionStorage.setItem("rapport.inbox", JSON.stringify(f)); reload(); };
    const chip = (on, label, flip) => h("button", { type: "button", class: "chip toggle" + (on ? " on" : ""), "aria-pressed": on ? "true" : "false", onclick: () => { flip(); paintFilters(); save(); } }, label);
    mount(filters,
      h("div", { class: "tabs", role: "tablist" }, views.map((v) => h("button", {
        type: "button", role: "tab", class: "tab" + (f.view === v ? " on" : ""), "aria-selected": f.view === v ? "true" : "false",
        onclick: () => { f.view = v; paintFilters(); save(); },
      }, t("inbox.view." + v)))),
      h("div", { class: "row" },
        chip(f.assignee === "me", t("inbox.mine"), () => { f.assignee = f.assignee === "me" ? "" : "me"; }),
        chip(f.assignee === "none", t("inbox.unassigned"), () => { f.assignee = f.assignee === "none" ? "" : "none"; }),
        chip(f.complaint, "⚠️ " + t("inbox.complaint"), () => { f.complaint = !f.complaint; }),
        h("select", { class: "small", "aria-label": t("inbox.anyChannel"), onchange: (e) => { f.channel = e.target.value; save(); } },
          ["", "telegram", "wechat", "webchat"].map((c) => h("option", { value: c, selected: f.channel === c }, c ? t("channel." + c) : t("inbox.anyChannel"))))));
  }

  function itemEl(c) {
    const on = c.customer_id === selected;
    return h("li", { role: "option", "aria-selected": on ? "true" : "false" },
      h("a", { class: "inbox-item" + (on ? " on" : "") + (c.unread ? " unread" : ""), href: "#/inbox/" + c.customer_id, dataset: { customer: c.customer_id } },
        h("div", { class: "row between" },
          h("strong", { class: "clip" }, nameOf(c)),
          c.waiting_since ? h("span", { class: "small warn" }, timeEl(c.waiting_since)) : h("span", { class: "small muted" }, timeEl(c.last_message_at))),
        h("div", { class: "preview clip" }, c.last_direction === "out" ? "↩ " : "", c.last_preview || h("span", { class: "muted" }, t("kind." + c.last_kind))),
        h("div", { class: "row small" },
          h("span", { class: "chip ch-" + c.channel }, t("channel." + c.channel)),
          c.complaint ? h("span", { class: "chip bad" }, t("inbox.complaint")) : null,
          h("span", { class: "muted clip" }, c.assignee_id ? c.assignee_name || ctx.staffName(c.assignee_id) : t("inbox.nobody")),
          h("span", { class: "grow" }),
          c.unread ? h("span", { class: "badge", title: t("inbox.unread", { n: c.unread }) }, String(c.unread)) : null)));
  }

  function paintList() {
    if (!items.length) {
      mount(listEl, h("li", {}, f.view === "waiting" && !f.assignee && !f.channel && !f.complaint
        ? empty(t("inbox.emptyWaiting"), t("inbox.emptyWaitingHint"))
        : empty(t("inbox.empty"), t("inbox.emptyHint"))));
    } else {
      mount(listEl, items.map(itemEl));
    }
    mount(more, cursor ? h("button", { class: "link", type: "button", onclick: (e) => busy(e.target, loadMore) }, t("common.more")) : null);
  }

  async function fetchPage(c) {
    return api("GET", "/inbox" + query({ view: f.view, assignee: f.assignee, channel: f.channel, complaint: f.complaint, limit: 50, cursor: c }));
  }

  let loadSeq = 0;
  async function reload() {
    const seq = ++loadSeq;
    if (!items.length) mount(listEl, h("li", {}, loading()));
    try {
      const res = await fetchPage("");
      if (seq !== loadSeq) return;
      items = res.items;
      cursor = res.next_cursor;
      paintList();
    } catch (e) {
      mount(listEl, h("li", {}, errorBox(e, reload)));
    }
  }

  async function loadMore() {
    const res = await fetchPage(cursor);
    items = items.concat(res.items);
    cursor = res.next_cursor;
    paintList();
  }

  function openPane() {
    if (!selected) {
      mount(pane, h("div", { class: "pane-empty hide-phone" }, empty(t("inbox.pick"), t("inbox.pickHint"))));
      return;
    }
    const back = h("a", { class: "back show-phone", href: "#/inbox" }, "← " + t("common.back"));
    const title = h("span", {});
    conv = conversationView(ctx, selected, { focus: true, title: [back, title,
      h("a", { class: "small", href: "#/customers/" + selected }, t("conv.openCustomer"))] });
    mount(pane, conv.el);
    api("GET", "/customers/" + selected).then((c) => {
      const name = c.name || nameOf({ customer_id: c.id, channel: (c.identities[0] || {}).channel });
      title.textContent = name;
      ctx.setTitle(name);
    }).catch(() => {});
  }

  // j / k move through the list; Escape closes the conversation on a phone.
  function onKey(e) {
    const tag = (e.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || document.querySelector("dialog[open]")) return;
    if (e.key === "Escape" && selected) { ctx.go("inbox"); return; }
    if (e.key !== "j" && e.key !== "k") return;
    const ids = items.map((c) => c.customer_id);
    let i = ids.indexOf(selected);
    i = e.key === "j" ? Math.min(ids.length - 1, i + 1) : Math.max(0, i - 1);
    if (ids[i]) ctx.go("inbox/" + ids[i]);
  }
  window.addEventListener("keydown", onKey);

  let timer;
  const off = ctx.on(() => { clearTimeout(timer); timer = setTimeout(reload, 250); });

  paintFilters();
  reload();
  openPane();
  return () => { off(); clearTimeout(timer); window.removeEventListener("keydown", onKey); if (conv) conv.destroy(); };
}
