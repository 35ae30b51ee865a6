// The customer page's timeline: a list of panels, each one part of the
// customer's story (the conversation, tasks; later orders, points, care
// sent, surveys, stage changes, merges). A panel is
//   { id, title (i18n key), roles, wide, render(ctx, customer, el) -> cleanup? }
// and a new one is added here (or with addPanel) without touching the page.
import { api, query } from "./api.js";
import { t } from "./i18n.js";
import { h, mount, loading, empty, errorBox, busy, dialog, toast } from "./dom.js";
import { timeEl, when } from "./format.js";
import { conversationView } from "./conversation.js";

const ALL = ["admin", "manager", "agent"];

export const panels = [
  {
    id: "conversation", title: "customer.conversation", roles: ALL, wide: true,
    render(ctx, c, el) {
      const v = conversationView(ctx, c.id, {});
      el.append(v.el);
      return v.destroy;
    },
  },
  {
    id: "tasks", title: "customer.tasks", roles: ALL,
    render(ctx, c, el) { taskPanel(ctx, c, el); },
  },
  {
    id: "stages", title: "customer.stages", roles: ALL,
    render(ctx, c, el) { stagePanel(c, el); },
  },
];

export function addPanel(p) { panels.push(p); }

// taskPanel lists the customer's tasks, open first, with Done.
async function taskPanel(ctx, c, el) {
  mount(el, loading());
  try {
    const [open, rest] = await Promise.all([
      api("GET", "/tasks" + query({ customer_id: c.id, status: "open", limit: 50 })),
      api("GET", "/tasks" + query({ customer_id: c.id, limit: 20 })),
    ]);
    const items = open.items.concat(rest.items.filter((x) => x.status !== "open"));
    if (!items.length) return mount(el, empty(t("customer.noTasks")));
    mount(el, h("ul", { class: "plain tasks" }, items.map((task) => h("li", { class: "task-line" },
      h("div", { class: "row between" },
        h("strong", {}, task.title),
        task.status === "open" ? doneButton(task, () => taskPanel(ctx, c, el)) : h("span", { class: "chip" }, t("tasks.status." + task.status))),
      h("div", { class: "small muted" },
        t("priority." + task.priority), " · ", task.assignee_id ? ctx.staffName(task.assignee_id) : t("inbox.nobody"),
        task.due_at ? [" · ", t("tasks.due", { when: when(task.due_at) })] : null),
      task.outcome ? h("div", { class: "small" }, "✔ ", task.outcome) : null))));
  } catch (e) {
    mount(el, errorBox(e, () => taskPanel(ctx, c, el)));
  }
}

// stagePanel is the customer's lifecycle stage history, newest first.
async function stagePanel(c, el) {
  mount(el, loading());
  try {
    const res = await api("GET", `/customers/${c.id}/stages` + query({ limit: 100 }));
    if (!res.items.length) return mount(el, empty(t("customer.noStages")));
    mount(el, h("ul", { class: "plain stages" }, res.items.slice().reverse().map((ch) => h("li", { class: "stage-line" },
      h("div", {}, h("span", { class: "chip" }, ch.from ? t("stage." + ch.from) : "—"), " → ", h("strong", {}, t("stage." + ch.to))),
      h("div", { class: "small muted" }, timeEl(ch.at), ch.reason ? " · " + ch.reason : "")))));
  } catch (e) {
    mount(el, errorBox(e, () => stagePanel(c, el)));
  }
}

// doneButton closes a task with an outcome note (a dialog, not prompt()).
export function doneButton(task, after) {
  return h("button", { class: "ghost small", type: "button", dataset: { done: task.id }, onclick: () => closeTask(task, after) }, "✓ " + t("tasks.done"));
}

// closeTask asks for the outcome and marks the task done (Ctrl+Enter
// saves); after() runs once it is.
export function closeTask(task, after) {
  const note = h("textarea", { id: "task-outcome", rows: "3", maxlength: "2000", placeholder: t("tasks.notePlaceholder"), "aria-label": t("tasks.note") });
  const err = h("div", { class: "slot" });
  const ok = h("button", { class: "act", type: "button", id: "task-done-save", onclick: () => busy(ok, async () => {
    await api("PATCH", "/tasks/" + task.id, { status: "done", note: note.value.trim() });
    d.close();
    toast(t("tasks.closed"));
    after();
  }, err) }, t("tasks.done"));
  const d = dialog(task.title, [h("label", { for: "task-outcome" }, t("tasks.note")), note, h("p", { class: "muted small" }, t("tasks.ctrlEnter")), err], [ok]);
  note.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) ok.click(); });
}

export { timeEl };
