// The customer page's timeline: a list of panels, each one part of the
// customer's story (the conversation with the care sent, tasks, stage
// changes, points and vouchers, orders with their items, assets, survey
// answers). A panel is
//   { id, title (i18n key), roles, wide, render(ctx, customer, el) -> cleanup? }
// and a new one is added here (or with addPanel) without touching the page.
import { api, query } from "./api.js";
import { t } from "./i18n.js";
import { h, mount, loading, empty, errorBox, busy, dialog, toast, field } from "./dom.js";
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
  {
    id: "points", title: "customer.points", roles: ALL,
    render(ctx, c, el) { pointsPanel(ctx, c, el); },
  },
  {
    id: "orders", title: "customer.orders", roles: ALL,
    render(ctx, c, el) { orderPanel(c, el); },
  },
  {
    id: "assets", title: "customer.assets", roles: ALL,
    render(ctx, c, el) { assetPanel(c, el); },
  },
  {
    id: "surveys", title: "customer.surveys", roles: ALL,
    render(ctx, c, el) { surveyPanel(c, el); },
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

// orderPanel lists the customer's orders, newest first, with their line
// items; a refund (a negative amount) is marked.
async function orderPanel(c, el) {
  mount(el, loading());
  try {
    const res = await api("GET", `/customers/${c.id}/orders` + query({ limit: 20 }));
    if (!res.items.length) return mount(el, empty(t("customer.noOrders")));
    mount(el, h("ul", { class: "plain orders" }, res.items.map((o) => h("li", { class: "order-line", dataset: { order: o.id } },
      h("div", { class: "row between" },
        h("span", {}, h("span", { class: "chip" }, t("order.kind." + o.kind)), " ", o.order_ref ? h("code", {}, o.order_ref) : null),
        h("strong", { class: o.amount < 0 ? "neg" : "" }, "¥" + Number(o.amount).toFixed(2))),
      (o.items || []).length ? h("div", { class: "small" }, o.items.map((it) => it.name + " × " + it.quantity + " ¥" + Number(it.amount).toFixed(2)).join(" · ")) : null,
      h("div", { class: "small muted" }, timeEl(o.occurred_at), o.amount < 0 ? " · " + t("order.refund") : "")))));
  } catch (e) {
    mount(el, errorBox(e, () => orderPanel(c, el)));
  }
}

// assetPanel lists the customer's assets (cars, devices) with their last
// and next service.
async function assetPanel(c, el) {
  mount(el, loading());
  try {
    const res = await api("GET", `/customers/${c.id}/assets`);
    if (!res.items.length) return mount(el, empty(t("customer.noAssets")));
    mount(el, h("ul", { class: "plain assets" }, res.items.map((a) => h("li", { class: "asset-line", dataset: { asset: a.id } },
      h("div", { class: "row between" }, h("strong", {}, a.name),
        h("span", { class: "small muted" }, [a.kind, a.model, a.year ? String(a.year) : ""].filter(Boolean).join(" · "))),
      h("div", { class: "small" },
        t("asset.last"), " ", a.last_service_at ? timeEl(a.last_service_at) : "—", " · ",
        t("asset.next"), " ", a.next_service_due ? h("strong", {}, a.next_service_due.slice(0, 10)) : "—")))));
  } catch (e) {
    mount(el, errorBox(e, () => assetPanel(c, el)));
  }
}

// surveyPanel lists the customer's survey answers, newest first: the score
// as stars, the comment, when.
async function surveyPanel(c, el) {
  mount(el, loading());
  try {
    const res = await api("GET", "/surveys/responses" + query({ customer_id: c.id, limit: 20 }));
    if (!res.items.length) return mount(el, empty(t("customer.noSurveys")));
    mount(el, h("ul", { class: "plain surveys" }, res.items.map((sv) => h("li", { class: "survey-line" },
      h("div", { class: "row between" }, h("strong", { class: sv.score <= 2 ? "neg" : "" }, "★".repeat(sv.score) + "☆".repeat(5 - sv.score)),
        h("span", { class: "small muted" }, t("channel." + sv.channel), " · ", timeEl(sv.created_at))),
      sv.comment ? h("div", { class: "small" }, sv.comment) : null))));
  } catch (e) {
    mount(el, errorBox(e, () => surveyPanel(c, el)));
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

// pointsPanel shows the balance, what expires when, the vouchers (unused
// ones with Use) and the newest ledger entries; anyone who sees the
// customer may redeem for them, managers and admins adjust with a reason.
async function pointsPanel(ctx, c, el) {
  const again = () => pointsPanel(ctx, c, el);
  mount(el, loading());
  try {
    const [p, vs] = await Promise.all([
      api("GET", "/customers/" + c.id + "/points" + query({ limit: 20 })),
      api("GET", "/customers/" + c.id + "/vouchers"),
    ]);
    const manager = ctx.me.role === "admin" || ctx.me.role === "manager";
    // Errors from Use go here: busy clears its slot first, so the slot
    // must not be the panel itself.
    const err = h("div", { class: "slot", id: "points-error" });
    const actions = h("div", { class: "row" },
      h("button", { class: "ghost small", type: "button", id: "points-redeem", onclick: () => redeemDialog(c, p.balance, again) }, "🎟 " + t("points.redeem")),
      manager ? h("button", { class: "ghost small", type: "button", id: "points-adjust", onclick: () => adjustDialog(c, again) }, "± " + t("points.adjust")) : null);
    mount(el,
      h("div", { class: "row between" }, h("strong", { id: "points-balance", class: "big" }, t("points.balance", { n: p.balance })), actions),
      p.expiring.length ? h("div", { class: "small warn" }, p.expiring.map((x) => t("points.expiring", { n: x.points, on: expiryDay(x.on) })).join(" · ")) : null,
      err,
      h("h3", { class: "small muted" }, t("points.vouchers")),
      vs.items.length ? h("ul", { class: "plain vouchers" }, vs.items.map((v) => h("li", { class: "row between", dataset: { code: v.code } },
        h("span", {}, h("code", {}, v.code), " ", v.name, " ¥", String(v.value), h("span", { class: "muted small" }, " · ", t("points.until", { on: when(v.expires_at) }))),
        v.status === "unused"
          ? h("button", { class: "ghost small", type: "button", onclick: (e) => busy(e.target, async () => {
            if (!confirm(t("points.confirmUse", { code: v.code }))) return;
            await api("POST", "/vouchers/" + encodeURIComponent(v.code) + "/use", {});
            toast(t("points.used"));
            again();
          }, err) }, t("points.use"))
          : h("span", { class: "chip" }, t("points.status." + v.status))))) : empty(t("points.noVouchers")),
      h("h3", { class: "small muted" }, t("points.ledger")),
      p.items.length ? h("ul", { class: "plain ledger" }, p.items.map((e) => h("li", { class: "row between small" },
        h("span", {}, t("points.kind." + e.kind), e.reason ? " · " + e.reason : ""),
        h("span", {}, h("strong", { class: e.points < 0 ? "neg" : "pos" }, (e.points > 0 ? "+" : "") + e.points), " ", timeEl(e.created_at))))) : empty(t("points.noEntries")));
  } catch (e) {
    mount(el, errorBox(e, again));
  }
}

// expiryDay is the last day points expiring at the instant on can be used.
function expiryDay(on) { return when(new Date(new Date(on).getTime() - 1000).toISOString()); }

function adjustDialog(c, after) {
  const pts = h("input", { type: "number", step: "1", id: "adjust-points" });
  const reason = h("input", { maxlength: "255", id: "adjust-reason" });
  const err = h("div", { class: "slot" });
  const ok = h("button", { class: "act", type: "button", id: "adjust-save", onclick: () => busy(ok, async () => {
    await api("POST", "/customers/" + c.id + "/points/adjustments", { points: Number(pts.value), reason: reason.value });
    d.close();
    toast(t("common.saved"));
    after();
  }, err) }, t("common.save"));
  const d = dialog(t("points.adjust"), [field(t("points.adjustPoints"), pts, t("points.adjustHint")), field(t("points.reason"), reason), err], [ok]);
}

async function redeemDialog(c, balance, after) {
  const err = h("div", { class: "slot" });
  const rs = await api("GET", "/rewards" + query({ active: true }));
  const pick = h("select", { id: "redeem-reward" }, rs.items.map((r) => h("option", { value: r.id, disabled: r.points > balance }, r.name + " · " + r.points + " · ¥" + r.value)));
  // One key per dialog: a double click issues one voucher.
  const key = "console-" + Math.random().toString(36).slice(2, 12);
  const ok = h("button", { class: "act", type: "button", id: "redeem-save", onclick: () => busy(ok, async () => {
    const v = await api("POST", "/customers/" + c.id + "/redemptions", { reward_id: Number(pick.value), key });
    d.close();
    toast(t("points.redeemed", { code: v.code }));
    after();
  }, err) }, t("points.redeem"));
  const d = dialog(t("points.redeem"), rs.items.length ? [field(t("points.reward"), pick), err] : [empty(t("rewards.empty"))], rs.items.length ? [ok] : null);
}

export { timeEl };
