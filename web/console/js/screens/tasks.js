// Tasks: the work queue, my open tasks in the order to work them
// (complaints, then overdue, then by due time) with the customer's card
// beside the chosen one; done, snooze and (managers) reassign from there,
// by keyboard too (j/k, d, s, a, o). A second tab lists tasks by status.
// #/tasks/ID keeps the choice across a reload.
import { api, query } from "../api.js";
import { t } from "../i18n.js";
import { h, mount, loading, empty, errorBox, busy, dialog, toast, field } from "../dom.js";
import { when, full, timeEl, today, addDays, weekday, zoned } from "../format.js";
import { closeTask, doneButton } from "../timeline.js";

const complaintKinds = ["complaint", "survey_recovery"];

export function render(ctx) {
  const manager = ctx.can("admin", "manager");
  const saved = JSON.parse(sessionStorage.getItem("rapport.tasks") || "{}");
  const st = { tab: saved.tab || "queue", whose: manager ? saved.whose || "me" : "me", status: saved.status || "open" };
  let selected = ctx.params[0] ? +ctx.params[0] : 0;
  // showCard: on a phone the card replaces the list once a task is chosen.
  let showCard = !!selected;

  const tabs = h("div", { class: "tabs", role: "tablist" });
  const tools = h("div", { class: "row" });
  const body = h("div", {});
  mount(ctx.el, h("div", { class: "row between" }, h("h1", { class: "screen-title" }, t("tasks.title")), tools), tabs, body);

  let items = [];
  let cursor = "";
  let cardOff = null;

  const save = () => sessionStorage.setItem("rapport.tasks", JSON.stringify(st));
  const isOverdue = (task) => task.status === "open" && task.due_at && new Date(task.due_at) < new Date();
  const customerName = (task) => task.customer_name || t("customer.noName") + " #" + task.customer_id;

  function paintTabs() {
    mount(tabs, ["queue", "history"].map((v) => h("button", {
      type: "button", role: "tab", class: "tab" + (st.tab === v ? " on" : ""), "aria-selected": st.tab === v ? "true" : "false",
      id: "tasks-tab-" + v, onclick: () => { st.tab = v; save(); paintTabs(); load(); },
    }, t("tasks.tab." + v))));
    if (st.tab === "queue" && manager) {
      mount(tools, h("select", { id: "tasks-whose", class: "small", "aria-label": t("tasks.whose"), onchange: (e) => { st.whose = e.target.value; save(); load(); } },
        h("option", { value: "me", selected: st.whose === "me" }, t("tasks.whoseMe")),
        h("option", { value: "0", selected: st.whose === "0" }, t("tasks.whoseNone")),
        ctx.staffList().filter((s) => s.id !== ctx.me.staff_id).map((s) => h("option", { value: s.id, selected: String(s.id) === st.whose }, s.name))));
    } else if (st.tab === "history") {
      mount(tools, h("select", { id: "tasks-status", class: "small", "aria-label": t("tasks.statusFilter"), onchange: (e) => { st.status = e.target.value; save(); load(); } },
        ["open", "done", "cancelled"].map((s) => h("option", { value: s, selected: st.status === s }, t("tasks.status." + s)))));
    } else {
      mount(tools);
    }
  }

  // --- the queue ---

  const listEl = h("ul", { class: "queue-list", role: "listbox", "aria-label": t("tasks.tab.queue") });
  const more = h("div", { class: "more" });
  const card = h("div", { class: "queue-card" });
  const queueEl = h("div", { class: "queue" }, h("div", { class: "queue-side" }, listEl, more), card);

  function itemEl(task) {
    const on = task.id === selected;
    const complaint = complaintKinds.includes(task.kind);
    return h("li", { role: "option", "aria-selected": on ? "true" : "false" },
      h("a", { class: "queue-item" + (on ? " on" : "") + (complaint ? " complaint" : ""), href: "#/tasks/" + task.id, dataset: { task: task.id },
        onclick: (e) => { e.preventDefault(); showCard = true; choose(task.id, false); } },
        h("div", { class: "row between" },
          h("strong", { class: "clip" }, task.title),
          task.due_at ? h("span", { class: "small" + (isOverdue(task) ? " bad" : " muted"), title: full(task.due_at) },
            isOverdue(task) ? t("tasks.overdueSince", { when: when(task.due_at) }) : when(task.due_at)) : h("span", { class: "small muted" }, t("tasks.noDue"))),
        h("div", { class: "row small" },
          h("span", { class: "clip" }, customerName(task)),
          complaint ? h("span", { class: "chip bad" }, t("kind.task." + task.kind)) : h("span", { class: "chip" }, t("kind.task." + task.kind)),
          task.priority === "high" || task.priority === "urgent" ? h("span", { class: "chip prio-" + task.priority }, t("priority." + task.priority)) : null,
          st.whose !== "me" && task.assignee_id && !task.assignee_chat_bound ? h("span", { class: "chip warn", title: t("tasks.noChatHint") }, t("tasks.noChat")) : null)));
  }

  function paintQueue() {
    if (!items.length) {
      mount(listEl, h("li", {}, st.whose === "me" ? empty(t("tasks.empty"), t("tasks.emptyHint")) : empty(t("tasks.emptyQueue"), t("tasks.emptyOtherHint"))));
      queueEl.classList.remove("has-card");
      mount(card, h("div", { class: "hide-phone" }, empty(t("tasks.pickNone"))));
    } else {
      mount(listEl, items.map(itemEl));
    }
    mount(more, cursor ? h("button", { class: "link", type: "button", onclick: (e) => busy(e.target, loadMore) }, t("common.more")) : null);
  }

  async function fetchQueue(c) {
    return api("GET", "/tasks/queue" + query({ assignee_id: st.whose === "me" ? "" : st.whose, limit: 50, cursor: c }));
  }

  async function loadMore() {
    const res = await fetchQueue(cursor);
    items = items.concat(res.items);
    cursor = res.next_cursor;
    paintQueue();
  }

  let seq = 0;
  async function loadQueue(keepPlace) {
    const mine = ++seq;
    if (!keepPlace) mount(listEl, h("li", {}, loading()));
    try {
      const res = await fetchQueue("");
      if (mine !== seq) return;
      const before = items.map((x) => x.id);
      items = res.items;
      cursor = res.next_cursor;
      if (!items.some((x) => x.id === selected)) {
        // The chosen task left the queue (done, snoozed past others,
        // handed on): the one that took its place, else the first.
        const at = before.indexOf(selected);
        const next = at >= 0 ? before.slice(at + 1).find((id) => items.some((x) => x.id === id)) : 0;
        selected = next || (items[0] ? items[0].id : 0);
        if (showCard && selected) history.replaceState(null, "", "#/tasks/" + selected);
      }
      paintQueue();
      paintCard();
    } catch (e) {
      mount(listEl, h("li", {}, errorBox(e, () => loadQueue(false))));
    }
  }

  function choose(id, focus) {
    if (!id) return;
    selected = id;
    history.replaceState(null, "", "#/tasks/" + id);
    paintQueue();
    paintCard();
    const a = listEl.querySelector(`a[data-task="${id}"]`);
    if (a) { a.scrollIntoView({ block: "nearest" }); if (focus) a.focus(); }
  }

  function paintCard() {
    if (cardOff) { cardOff(); cardOff = null; }
    const task = items.find((x) => x.id === selected);
    queueEl.classList.toggle("has-card", !!task && showCard);
    if (!task) return;
    const customerEl = h("div", { class: "customer-mini" }, loading());
    const after = () => loadQueue(true);
    const actions = h("div", { class: "row task-actions" },
      h("button", { class: "act", type: "button", id: "task-done", title: "d", onclick: () => closeTask(task, after) }, "✓ " + t("tasks.done"), h("kbd", {}, "d")),
      h("button", { class: "ghost", type: "button", id: "task-snooze", title: "s", onclick: () => snooze(task, after) }, "⏰ " + t("tasks.snooze"), h("kbd", {}, "s")),
      manager ? h("button", { class: "ghost", type: "button", id: "task-reassign", title: "a", onclick: () => reassign(task, after) }, "↪ " + t("tasks.reassign"), h("kbd", {}, "a")) : null);
    mount(card, h("section", { class: "card task-card", dataset: { task: task.id } },
      h("a", { class: "back show-phone", href: "#/tasks" }, "← " + t("common.back")),
      h("h2", { id: "task-title" }, task.title),
      h("div", { class: "row" },
        h("span", { class: "chip" + (complaintKinds.includes(task.kind) ? " bad" : "") }, t("kind.task." + task.kind)),
        h("span", { class: "chip prio-" + task.priority }, t("priority." + task.priority)),
        isOverdue(task) ? h("span", { class: "chip bad" }, t("tasks.overdue")) : null),
      task.detail ? h("p", { class: "pre" }, task.detail) : null,
      h("p", { class: "small muted" },
        task.due_at ? h("span", { title: full(task.due_at) }, t("tasks.due", { when: when(task.due_at) }), " · ") : null,
        t("tasks.opened", { when: when(task.created_at) }),
        task.assignee_id && task.assignee_id !== ctx.me.staff_id ? [" · ", t("inbox.assignee", { name: ctx.staffName(task.assignee_id) })] : null),
      task.assignee_id && !task.assignee_chat_bound ? h("p", { class: "warn small" }, t("tasks.noChatHint")) : null,
      actions,
      customerEl));
    let gone = false;
    cardOff = () => { gone = true; };
    Promise.all([
      api("GET", "/customers/" + task.customer_id),
      api("GET", "/customers/" + task.customer_id + "/conversation").catch(() => null),
    ]).then(([c, conv]) => {
      if (gone) return;
      const line = (label, value) => h("div", { class: "kv" }, h("span", { class: "muted" }, label), h("span", {}, value));
      mount(customerEl,
        h("div", { class: "row between" },
          h("h3", {}, h("a", { href: "#/customers/" + c.id, id: "task-customer" }, c.name || customerName(task))),
          h("span", { class: "row" }, h("span", { class: "chip" }, t("col.tier") + " " + c.tier), h("span", { class: "chip" }, t("stage." + c.stage)))),
        line(t("col.phone"), c.phone || t("common.none")),
        line(t("col.owner"), c.owner_staff_id ? ctx.staffName(c.owner_staff_id) : t("customer.ownerNone")),
        (c.tags || []).length ? line(t("col.tags"), (c.tags || []).map((tg) => h("span", { class: "chip tag" }, tg))) : null,
        conv && conv.last_message_id ? line(t("tasks.lastMessage"), [conv.last_direction === "out" ? "↩ " : "", conv.last_preview || t("kind." + conv.last_kind), " · ", timeEl(conv.last_message_at)]) : null,
        h("div", { class: "row" },
          h("a", { class: "ghost-link", href: "#/inbox/" + c.id }, "💬 " + t("tasks.openConversation")),
          h("a", { class: "ghost-link", href: "#/customers/" + c.id }, "👤 " + t("conv.openCustomer"), h("kbd", {}, "o"))));
    }).catch((e) => { if (!gone) mount(customerEl, errorBox(e)); });
  }

  // snooze moves the due time: an hour on, tomorrow morning, ... in the
  // business zone, or a time picked.
  function snooze(task, after) {
    const day = today();
    let monday = addDays(day, 1);
    while (weekday(monday) !== 1) monday = addDays(monday, 1);
    const choices = [
      ["tasks.snooze1h", new Date(Date.now() + 3600e3)],
      ["tasks.snoozeTomorrow", zoned(addDays(day, 1), "09:00")],
      ["tasks.snooze3d", zoned(addDays(day, 3), "09:00")],
      ["tasks.snoozeMonday", zoned(monday, "09:00")],
    ];
    const err = h("div", { class: "slot" });
    const custom = h("input", { type: "datetime-local", id: "snooze-at", "aria-label": t("tasks.snoozeAt") });
    const set = (at) => async (e) => busy(e.target, async () => {
      await api("PATCH", "/tasks/" + task.id, { due_at: at.toISOString() });
      d.close();
      toast(t("tasks.snoozed", { when: when(at.toISOString()) }));
      after();
    }, err);
    const d = dialog(t("tasks.snoozeTitle"), [
      h("div", { class: "stack" }, choices.map(([k, at], i) => h("button", { class: "ghost snooze-choice", type: "button", dataset: { snooze: i }, onclick: set(at) },
        t(k), " ", h("span", { class: "muted small" }, when(at.toISOString()))))),
      field(t("tasks.snoozeAt"), custom), err,
    ], [h("button", { class: "act", type: "button", onclick: (e) => {
      if (!custom.value) return;
      const [date, time] = custom.value.split("T");
      set(zoned(date, time.slice(0, 5)))(e);
    } }, t("tasks.snoozeSet"))]);
  }

  // reassign hands the task to another active staff member (managers).
  function reassign(task, after) {
    const who = h("select", { id: "reassign-to" }, ctx.staffList().map((s) => h("option", { value: s.id, selected: s.id === task.assignee_id }, s.name + " · " + t("role." + s.role))));
    const err = h("div", { class: "slot" });
    const ok = h("button", { class: "act", type: "button", onclick: () => busy(ok, async () => {
      const t2 = await api("PATCH", "/tasks/" + task.id, { assignee_id: +who.value });
      d.close();
      toast(t("tasks.reassigned", { name: ctx.staffName(t2.assignee_id) }));
      if (!t2.assignee_chat_bound) toast(t("tasks.reassignedNoChat", { name: ctx.staffName(t2.assignee_id) }));
      after();
    }, err) }, t("tasks.reassign"));
    const d = dialog(t("tasks.reassignTitle", { title: task.title }), [field(t("tasks.reassignTo"), who), err], [ok]);
  }

  // --- the history (tasks by status) ---

  async function loadHistory() {
    let rows = [];
    let next = "";
    const results = h("div", { class: "table-wrap" });
    const moreEl = h("div", { class: "more" });
    mount(body, results, moreEl);
    const paint = () => {
      if (!rows.length) {
        mount(results, st.status === "open" ? empty(t("tasks.emptyAll"), t("tasks.emptyAllHint")) : empty(t("tasks.emptyStatus")));
      } else {
        mount(results, h("table", {},
          h("thead", {}, h("tr", {}, h("th", {}, t("tasks.col.title")), h("th", {}, t("tasks.col.customer")), h("th", { class: "hide-phone" }, t("tasks.col.priority")),
            h("th", { class: "hide-phone" }, t("tasks.col.assignee")), h("th", {}, st.status === "open" ? t("tasks.col.due") : t("tasks.col.closed")), h("th", {}))),
          h("tbody", {}, rows.map((task) => h("tr", { dataset: { task: task.id } },
            h("td", {}, task.title, task.outcome ? h("div", { class: "small muted" }, "✔ " + task.outcome) : null),
            h("td", {}, h("a", { href: "#/customers/" + task.customer_id }, customerName(task))),
            h("td", { class: "hide-phone" }, h("span", { class: "chip prio-" + task.priority }, t("priority." + task.priority))),
            h("td", { class: "hide-phone" }, task.assignee_id ? ctx.staffName(task.assignee_id) : t("inbox.nobody")),
            st.status === "open"
              ? h("td", { class: "small" + (isOverdue(task) ? " bad" : ""), title: full(task.due_at) }, task.due_at ? when(task.due_at) : t("common.none"))
              : h("td", { class: "small", title: full(task.closed_at) }, task.closed_at ? when(task.closed_at) : t("common.none")),
            h("td", {}, task.status === "open" ? doneButton(task, loadHistory) : t("tasks.status." + task.status)))))));
      }
      mount(moreEl, next ? h("button", { class: "ghost", type: "button", onclick: (e) => busy(e.target, page, moreEl) }, t("common.more")) : null);
    };
    const page = async () => {
      const res = await api("GET", "/tasks" + query({ status: st.status, limit: 50, cursor: next }));
      rows = rows.concat(res.items);
      next = res.next_cursor;
      paint();
    };
    mount(results, loading());
    try { await page(); } catch (e) { mount(results, errorBox(e, loadHistory)); }
  }

  function load() {
    paintTabs();
    if (st.tab === "queue") {
      mount(body, queueEl);
      items = [];
      loadQueue(false);
    } else {
      loadHistory();
    }
  }

  // Keys: j/k move through the queue, d done, s snooze, a reassign, o
  // the customer's page. A key that opens a dialog acts when it is
  // released: pressed, its character would land in the dialog's field.
  let armed = "";
  function onKey(e) {
    armed = "";
    if (st.tab !== "queue" || e.ctrlKey || e.metaKey || e.altKey) return;
    const tag = (e.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || document.querySelector("dialog[open]")) return;
    const i = items.findIndex((x) => x.id === selected);
    const task = items[i];
    switch (e.key) {
      case "j": case "ArrowDown": if (items[i + 1]) { e.preventDefault(); choose(items[i + 1].id, true); } break;
      case "k": case "ArrowUp": if (i > 0) { e.preventDefault(); choose(items[i - 1].id, true); } break;
      case "o": if (task) { e.preventDefault(); ctx.go("customers/" + task.customer_id); } break;
      case "d": case "s": case "a": if (task) { e.preventDefault(); armed = e.key; } break;
    }
  }
  function onKeyUp(e) {
    const key = armed;
    armed = "";
    const task = items.find((x) => x.id === selected);
    if (!task || e.key !== key || document.querySelector("dialog[open]")) return;
    if (key === "d") closeTask(task, () => loadQueue(true));
    if (key === "s") snooze(task, () => loadQueue(true));
    if (key === "a" && manager) reassign(task, () => loadQueue(true));
  }
  window.addEventListener("keydown", onKey);
  window.addEventListener("keyup", onKeyUp);
  load();
  return () => { window.removeEventListener("keydown", onKey); window.removeEventListener("keyup", onKeyUp); if (cardOff) cardOff(); };
}
