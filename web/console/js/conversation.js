// A customer's conversation on every channel: newest at the bottom, older
// pages on request, live (new messages and delivery status arrive by
// themselves), a reply box with quick replies, and the inbox controls
// (take, assign, resolve). Used by the inbox and the customer page.
import { api, query, stream } from "./api.js";
import { t } from "./i18n.js";
import { h, mount, loading, empty, errorBox, busy } from "./dom.js";
import { messageEl } from "./message.js";

let quickCache = null;

async function quickReplies() {
  if (!quickCache) quickCache = api("GET", "/quick-replies").then((r) => r.items).catch((e) => { quickCache = null; throw e; });
  return quickCache;
}

// forgetQuickReplies drops the cache after managers change them.
export function forgetQuickReplies() { quickCache = null; }

export function conversationView(ctx, customerId, opts = {}) {
  const root = h("section", { class: "conversation", "aria-label": t("customer.conversation") });
  const head = h("div", { class: "conv-head" });
  const list = h("div", { class: "msgs", role: "log", "aria-live": "polite", tabindex: "0" });
  const earlier = h("div", { class: "earlier" });
  const err = h("div", { class: "slot" });
  const box = h("textarea", { id: "reply-" + customerId, class: "reply", rows: "2", maxlength: "4096", placeholder: t("conv.reply"), "aria-label": t("conv.reply") });
  const send = h("button", { class: "act", type: "submit" }, t("conv.send"));
  const picker = h("div", { class: "picker", hidden: true, role: "listbox" });
  const form = h("form", { class: "reply-form", onsubmit: (e) => { e.preventDefault(); reply(); } },
    picker, box,
    h("div", { class: "reply-actions" },
      h("button", { class: "ghost small", type: "button", onclick: () => openPicker("") }, "⚡ " + t("conv.quick")),
      h("span", { class: "muted small via" }),
      send),
    err);
  mount(root, head, h("div", { class: "msgs-wrap" }, earlier, list), form);

  let conv = null;
  let cursor = "";
  const shown = new Map(); // message id -> element
  let closeStream = null;

  box.addEventListener("keydown", (e) => {
    if (!picker.hidden && (e.key === "Escape")) { e.preventDefault(); picker.hidden = true; return; }
    if (!picker.hidden && e.key === "Enter") {
      const first = picker.querySelector("button");
      if (first) { e.preventDefault(); first.click(); return; }
    }
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); reply(); }
  });
  box.addEventListener("input", () => {
    const v = box.value;
    if (v.startsWith("/") && !v.includes("\n") && v.length < 33) openPicker(v.slice(1));
    else picker.hidden = true;
  });

  async function openPicker(filter) {
    let items;
    try { items = await quickReplies(); } catch (e) { mount(picker, errorBox(e)); picker.hidden = false; return; }
    const f = filter.toLowerCase();
    const hits = items.filter((q) => !f || q.shortcut.toLowerCase().startsWith(f) || q.title.toLowerCase().includes(f));
    mount(picker, hits.length ? hits.slice(0, 8).map((q) => h("button", { type: "button", role: "option", onclick: () => {
      box.value = q.body;
      picker.hidden = true;
      box.focus();
    } }, h("strong", {}, q.title), q.shortcut ? h("span", { class: "muted" }, " /" + q.shortcut) : null, h("span", { class: "muted small clip" }, q.body)))
      : h("p", { class: "muted small" }, t("conv.noQuick")));
    picker.hidden = false;
  }

  function add(m, atTop) {
    const old = shown.get(m.id);
    const el = messageEl(m);
    if (old) { old.replaceWith(el); shown.set(m.id, el); return; }
    shown.set(m.id, el);
    const stuck = list.scrollHeight - list.scrollTop - list.clientHeight < 60;
    if (atTop) list.prepend(el); else list.append(el);
    if (!atTop && stuck) list.scrollTop = list.scrollHeight;
  }

  async function loadPage() {
    const res = await api("GET", `/customers/${customerId}/messages` + query({ order: "newest", limit: 30, cursor }));
    const first = !cursor;
    const before = list.scrollHeight;
    for (const m of res.items) add(m, true); // newest first: each older one goes on top
    cursor = res.next_cursor;
    mount(earlier, cursor ? h("button", { class: "link", type: "button", onclick: (e) => busy(e.target, loadPage, err) }, t("conv.earlier")) : null);
    if (first) {
      if (!res.items.length) list.append(h("div", { class: "conv-empty" }, empty(t("conv.empty"), t("conv.emptyHint"))));
      list.scrollTop = list.scrollHeight;
    } else {
      list.scrollTop = list.scrollHeight - before;
    }
  }

  function paintHead() {
    if (!conv) return;
    const me = ctx.me.staff_id;
    const mine = conv.assignee_id === me;
    const managers = ctx.can("admin", "manager");
    const status = conv.status;
    const set = (body) => async (e) => {
      await busy(e.target, async () => { conv = await api("PATCH", `/customers/${customerId}/conversation`, body); paintHead(); }, err);
    };
    const assign = managers ? h("select", { class: "small", "aria-label": t("conv.assignTo"), onchange: (e) => set({ assignee_id: +e.target.value })({ target: e.target }) },
      h("option", { value: "0" }, t("inbox.nobody")),
      ctx.staffList().map((s) => h("option", { value: s.id, selected: s.id === conv.assignee_id }, s.name))) : null;
    mount(head,
      opts.title ? h("div", { class: "conv-title" }, opts.title) : null,
      h("span", { class: "chip status-" + status }, t("conv.status." + status)),
      managers ? assign : h("span", { class: "muted small" }, conv.assignee_id ? t("inbox.assignee", { name: conv.assignee_name || ctx.staffName(conv.assignee_id) }) : t("inbox.nobody")),
      h("span", { class: "grow" }),
      !mine ? h("button", { class: "act small", type: "button", id: "take", onclick: set({ assignee_id: me }) }, t("conv.take")) : null,
      mine && !managers ? h("button", { class: "ghost small", type: "button", onclick: set({ assignee_id: 0 }) }, t("conv.release")) : null,
      status !== "resolved" ? h("button", { class: "ghost small", type: "button", id: "resolve", onclick: set({ status: "resolved" }) }, t("conv.resolve")) : null,
      status === "open" ? h("button", { class: "ghost small hide-phone", type: "button", onclick: set({ status: "pending" }) }, t("conv.pending")) : null,
      status !== "open" ? h("button", { class: "ghost small", type: "button", onclick: set({ status: "open" }) }, t("conv.reopen")) : null);
    const via = form.querySelector(".via");
    if (via) via.textContent = conv.channel ? t("conv.sentVia", { channel: t("channel." + conv.channel) }) : "";
  }

  async function markRead() {
    if (!conv || !conv.unread) return;
    try { conv = await api("PATCH", `/customers/${customerId}/conversation`, { read: true }); paintHead(); } catch (e) { /* shown next time */ }
  }

  async function reply() {
    const text = box.value.trim();
    if (!text) return;
    await busy(send, async () => {
      const m = await api("POST", `/customers/${customerId}/messages`, { text });
      box.value = "";
      const placeholder = list.querySelector(".conv-empty");
      if (placeholder) placeholder.remove();
      add(m);
      list.scrollTop = list.scrollHeight;
    }, err);
    box.focus();
  }

  async function start() {
    list.append(loading());
    try {
      conv = await api("GET", `/customers/${customerId}/conversation`);
      list.replaceChildren();
      await loadPage();
      paintHead();
      markRead();
    } catch (e) {
      mount(list, errorBox(e, () => { list.replaceChildren(); start(); }));
      return;
    }
    closeStream = stream({ watch: customerId }, {
      message: (m) => {
        const placeholder = list.querySelector(".conv-empty");
        if (placeholder) placeholder.remove();
        add(m);
        if (m.direction === "in") markRead();
      },
      conversation: (c) => {
        if (c.customer_id === customerId) { conv = c; paintHead(); }
      },
    });
  }
  start();
  if (opts.focus) setTimeout(() => box.focus(), 0);

  return { el: root, destroy: () => { if (closeStream) closeStream(); } };
}
