// Tasks (part 1: the list of the old console in the new shell, with names
// instead of ids and Done with an outcome; part 2 makes it the work queue).
import { api, query } from "../api.js";
import { t } from "../i18n.js";
import { h, mount, loading, empty, errorBox, busy } from "../dom.js";
import { when, full } from "../format.js";
import { doneButton } from "../timeline.js";

export function render(ctx) {
  const status = h("select", { "aria-label": t("tasks.title") }, ["open", "done", "cancelled"].map((s) => h("option", { value: s }, t("tasks.status." + s))));
  const results = h("div", {});
  const more = h("div", { class: "more" });
  mount(ctx.el, h("h1", { class: "screen-title" }, t("tasks.title")), h("div", { class: "row filters-bar" }, status), results, more);
  const names = new Map(); // customer id -> name
  let rows = [];
  let cursor = "";

  async function nameCustomers(items) {
    const ids = [...new Set(items.map((x) => x.customer_id))].filter((id) => !names.has(id));
    await Promise.all(ids.map((id) => api("GET", "/customers/" + id).then((c) => names.set(id, c.name || t("customer.noName")), () => names.set(id, "#" + id))));
  }

  function paint() {
    if (!rows.length) {
      mount(results, status.value === "open" ? empty(t("tasks.empty"), t("tasks.emptyHint")) : empty(t("tasks.emptyOther")));
    } else {
      const now = new Date();
      mount(results, h("table", {},
        h("thead", {}, h("tr", {}, h("th", {}, t("tasks.col.title")), h("th", {}, t("tasks.col.customer")), h("th", { class: "hide-phone" }, t("tasks.col.priority")),
          h("th", { class: "hide-phone" }, t("tasks.col.assignee")), h("th", {}, t("tasks.col.due")), h("th", {}))),
        h("tbody", {}, rows.map((task) => h("tr", { dataset: { task: task.id } },
          h("td", {}, task.title, task.outcome ? h("div", { class: "small muted" }, "✔ " + task.outcome) : null),
          h("td", {}, h("a", { href: "#/customers/" + task.customer_id }, names.get(task.customer_id) || "#" + task.customer_id)),
          h("td", { class: "hide-phone" }, h("span", { class: "chip prio-" + task.priority }, t("priority." + task.priority))),
          h("td", { class: "hide-phone" }, task.assignee_id ? ctx.staffName(task.assignee_id) : t("inbox.nobody")),
          h("td", { class: "small" + (task.status === "open" && task.due_at && new Date(task.due_at) < now ? " bad" : ""), title: full(task.due_at) },
            task.due_at ? when(task.due_at) : t("common.none")),
          h("td", {}, task.status === "open" ? doneButton(task, load) : t("tasks.status." + task.status)))))));
    }
    mount(more, cursor ? h("button", { class: "ghost", type: "button", onclick: (e) => busy(e.target, page, more) }, t("common.more")) : null);
  }

  async function page() {
    const res = await api("GET", "/tasks" + query({ status: status.value, limit: 50, cursor }));
    await nameCustomers(res.items);
    rows = rows.concat(res.items);
    cursor = res.next_cursor;
    paint();
  }

  async function load() {
    rows = [];
    cursor = "";
    mount(results, loading());
    try { await page(); } catch (e) { mount(results, errorBox(e, load)); }
  }
  status.onchange = load;
  load();
}
