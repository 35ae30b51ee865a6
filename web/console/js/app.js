// The console's shell: who is signed in, the navigation, the router
// (#/inbox, #/customers/7, ...), keyboard shortcuts, and the live inbox
// stream every screen can listen to. Screens are modules in screens/;
// each exports render(ctx) and may return a cleanup function.
import { api, setCSRF, stream, listAll } from "./api.js";
import { t, setLang, getLang, savedLang } from "./i18n.js";
import { setZone } from "./format.js";
import { h, mount, loading, errorBox, dialog, toast, $ } from "./dom.js";

const ALL = ["admin", "manager", "agent"];
const MANAGERS = ["admin", "manager"];
const ADMINS = ["admin"];

// screens, in navigation order. nav: the label key of a navigation item;
// parent: the item a screen belongs under (the manager screens are cards
// on Manage, titled by title, with title + "Hint" under it); roles: who
// sees it (the API refuses the others anyway).
export const screens = [
  { id: "dashboard", match: /^dashboard$/, nav: "nav.dashboard", icon: "📊", roles: MANAGERS, load: () => import("./screens/dashboard.js") },
  { id: "inbox", match: /^inbox(?:\/(\d+))?$/, nav: "nav.inbox", icon: "💬", roles: ALL, load: () => import("./screens/inbox.js") },
  { id: "customers", match: /^customers(?:\?(.*))?$/, nav: "nav.customers", icon: "👥", roles: ALL, load: () => import("./screens/customers.js") },
  { id: "customer", match: /^customers\/(\d+)$/, parent: "customers", roles: ALL, load: () => import("./screens/customer.js") },
  { id: "tasks", match: /^tasks(?:\/(\d+))?$/, nav: "nav.tasks", icon: "✅", roles: ALL, load: () => import("./screens/tasks.js") },
  { id: "manage", match: /^manage$/, nav: "nav.manage", icon: "🛠", roles: MANAGERS, load: () => import("./screens/manage.js") },
  { id: "templates", match: /^templates$/, parent: "manage", title: "nav.templates", icon: "📝", roles: MANAGERS, load: () => import("./screens/templates.js") },
  { id: "segments", match: /^segments$/, parent: "manage", title: "nav.segments", icon: "🎯", roles: MANAGERS, load: () => import("./screens/segments.js") },
  { id: "campaigns", match: /^campaigns$/, parent: "manage", title: "nav.campaigns", icon: "📣", roles: MANAGERS, load: () => import("./screens/campaigns.js") },
  { id: "care", match: /^care$/, parent: "manage", title: "nav.care", icon: "🎁", roles: MANAGERS, load: () => import("./screens/care.js") },
  { id: "staff", match: /^staff$/, parent: "manage", title: "nav.staff", icon: "🧑‍💼", roles: MANAGERS, load: () => import("./screens/staff.js") },
  { id: "imports", match: /^imports$/, parent: "manage", title: "nav.imports", icon: "📥", roles: MANAGERS, load: () => import("./screens/imports.js") },
  { id: "quick-replies", match: /^quick-replies$/, parent: "manage", title: "nav.quickReplies", icon: "⚡", roles: MANAGERS, load: () => import("./screens/quickreplies.js") },
  { id: "rewards", match: /^rewards$/, parent: "manage", title: "nav.rewards", icon: "🎟", roles: MANAGERS, load: () => import("./screens/rewards.js") },
  { id: "audit", match: /^audit$/, parent: "manage", title: "nav.audit", icon: "🔎", roles: MANAGERS, load: () => import("./screens/audit.js") },
  { id: "tokens", match: /^tokens$/, parent: "manage", title: "nav.tokens", icon: "🔑", roles: ADMINS, load: () => import("./screens/tokens.js") },
  { id: "account", match: /^account$/, nav: "nav.account", icon: "👤", roles: ALL, load: () => import("./screens/account.js") },
];

const state = {
  me: null,
  staff: new Map(), // id -> {id, name, role, active}
  cleanup: null,
  listeners: new Set(),
  counts: null,
  closeStream: null,
  live: false,
  lastIn: new Map(), // customer id -> last inbound message id seen
};

function route() {
  const path = location.hash.replace(/^#\/?/, "");
  for (const s of screens) {
    const m = path.match(s.match);
    if (m) return { screen: s, params: m.slice(1) };
  }
  return { screen: home(), params: [] };
}

// home is where a signed-in user starts: the dashboard for managers, the
// inbox for agents.
function home() {
  return screens.find((s) => s.id === (state.me && MANAGERS.includes(state.me.role) ? "dashboard" : "inbox"));
}

export function go(path) { location.hash = "#/" + path; }

function can(roles) { return state.me && roles.includes(state.me.role); }

// ctx is what a screen gets.
function context(el, params) {
  return {
    el, params, me: state.me, go, can: (...roles) => can(roles),
    staffName: (id) => (id == null ? "" : (state.staff.get(id) || {}).name || "#" + id),
    staffList: () => [...state.staff.values()].filter((s) => s.active),
    // on listens to the live inbox stream ("conversation"); returns off().
    on: (fn) => { state.listeners.add(fn); return () => state.listeners.delete(fn); },
    refreshCounts,
    setTitle,
  };
}

let baseTitle = "Rapport";
function setTitle(title) {
  baseTitle = title ? title + " · Rapport" : "Rapport";
  paintTitle();
}

function paintTitle() {
  const n = state.counts ? state.counts.waiting : 0;
  document.title = (n > 0 ? `(${n}) ` : "") + baseTitle;
}

async function refreshCounts() {
  try {
    state.counts = await api("GET", "/inbox/counts");
  } catch (e) {
    return;
  }
  paintTitle();
  const badge = $("#nav-inbox-badge");
  if (badge) {
    badge.textContent = state.counts.waiting > 99 ? "99+" : String(state.counts.waiting);
    badge.hidden = !state.counts.waiting;
  }
}

// beep is the optional new-message sound (a short tone; no file to load).
function beep() {
  if (localStorage.getItem("rapport.sound") === "off") return;
  try {
    const ctx = new (window.AudioContext || window.webkitAudioContext)();
    const o = ctx.createOscillator(), g = ctx.createGain();
    o.frequency.value = 880;
    g.gain.value = 0.08;
    o.connect(g).connect(ctx.destination);
    o.start();
    o.stop(ctx.currentTime + 0.15);
    setTimeout(() => ctx.close(), 400);
  } catch (e) { /* no audio: the title badge still says it */ }
}

let countsTimer;
function startLive() {
  if (state.closeStream) state.closeStream();
  state.closeStream = stream({}, {
    open: () => setLive(true),
    error: () => setLive(false),
    signed_out: () => signedOut(),
    conversation: (c) => {
      const prev = state.lastIn.get(c.customer_id) || 0;
      if (c.last_direction === "in" && c.last_message_id > prev && c.waiting_since) {
        if (prev !== 0 || Date.now() - startedAt > 3000) {
          beep();
          if (document.hidden || route().screen.id !== "inbox") toast(t("inbox.newMessage", { name: c.customer_name || "#" + c.customer_id }));
        }
      }
      if (c.last_direction === "in") state.lastIn.set(c.customer_id, c.last_message_id);
      for (const fn of state.listeners) fn(c);
      clearTimeout(countsTimer);
      countsTimer = setTimeout(refreshCounts, 300);
    },
  });
}
let startedAt = Date.now();

function setLive(on) {
  state.live = on;
  const dot = $("#live");
  if (dot) {
    dot.className = on ? "live on" : "live";
    dot.title = on ? t("inbox.live") : t("inbox.offline");
  }
}

function shell() {
  const app = $("#app");
  app.className = "shell";
  const nav = h("nav", { class: "nav", "aria-label": "main" },
    screens.filter((s) => s.nav && can(s.roles)).map((s) =>
      h("a", { href: "#/" + s.id, dataset: { screen: s.id } },
        h("span", { class: "nav-icon", "aria-hidden": "true" }, s.icon),
        h("span", { class: "nav-label" }, t(s.nav)),
        s.id === "inbox" ? h("span", { class: "badge", id: "nav-inbox-badge", hidden: true }) : null)));
  const header = h("header", { class: "top" },
    h("a", { class: "brand", href: "#/inbox" }, state.me.business_name || "Rapport"),
    h("span", { id: "live", class: "live", title: t("inbox.offline") }),
    nav,
    h("span", { class: "grow" }),
    h("button", { class: "ghost small", type: "button", onclick: toggleLang, title: "l" }, t("nav.language")),
    h("button", { class: "ghost small hide-phone", type: "button", onclick: showShortcuts, title: "?" }, t("nav.shortcuts")),
    h("span", { class: "who hide-phone" }, state.me.name, " · ", t("role." + state.me.role)),
    h("button", { class: "ghost small", type: "button", onclick: signOut }, t("nav.signOut")));
  mount(app, header, h("main", { id: "main", tabindex: "-1" }));
  setLive(state.live);
}

async function render() {
  if (!state.me) return;
  const { screen, params } = route();
  if (!can(screen.roles)) return go(home().id);
  for (const a of document.querySelectorAll(".nav a")) {
    a.classList.toggle("on", a.dataset.screen === (screen.parent || screen.id));
    if (a.classList.contains("on")) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  if (state.cleanup) { try { state.cleanup(); } catch (e) { /* screen gone */ } state.cleanup = null; }
  const main = $("#main");
  mount(main, loading());
  setTitle(screen.nav || screen.title ? t(screen.nav || screen.title) : "");
  try {
    const mod = await screen.load();
    if (route().screen !== screen) return; // moved on meanwhile
    main.replaceChildren();
    main.className = "screen-" + screen.id;
    let el = main;
    if (screen.parent === "manage") {
      el = h("div", {});
      main.append(h("a", { class: "back", href: "#/manage" }, "← " + t("nav.manage")), el);
    }
    state.cleanup = (await mod.render(context(el, params))) || null;
  } catch (e) {
    mount(main, errorBox(e, render));
  }
}

function toggleLang() {
  setLang(getLang() === "zh-CN" ? "en" : "zh-CN");
  shell();
  render();
  refreshCounts();
}

function showShortcuts() {
  dialog(t("shortcuts.title"), h("ul", { class: "plain" },
    ["goInbox", "goCustomers", "goTasks", "goManage", "search", "nextPrev", "send", "tasks", "escape", "language", "help"].map((k) => h("li", {}, t("shortcuts." + k)))));
}

async function signOut() {
  try { await api("POST", "/console/api/sign-out"); } catch (e) { /* signed out anyway */ }
  signedOut();
}

function signedOut(message) {
  if (state.closeStream) state.closeStream();
  state.closeStream = null;
  state.me = null;
  setCSRF("");
  if (state.cleanup) { try { state.cleanup(); } catch (e) { /* gone */ } state.cleanup = null; }
  showSignIn(message);
}

async function showSignIn(message) {
  const app = $("#app");
  app.className = "signin-page";
  const mod = await import("./screens/signin.js");
  mount(app);
  mod.render({ el: app, message, done: (me) => start(me) });
}

// start runs the console for a signed-in staff member.
async function start(me) {
  state.me = me;
  setCSRF(me.csrf_token);
  setZone(me.timezone);
  if (!savedLang()) setLang(me.locale);
  try {
    const staff = await listAll("/staff/directory");
    state.staff = new Map(staff.map((s) => [s.id, s]));
  } catch (e) { /* names fall back to ids */ }
  startedAt = Date.now();
  shell();
  if (!location.hash || location.hash.startsWith("#signin")) history.replaceState(null, "", "#/" + home().id);
  render();
  refreshCounts();
  startLive();
}

// Keyboard: g+i/c/t to go, / to search, ? for help, l for language.
let pendingG = 0;
function onKey(e) {
  if (!state.me || e.ctrlKey || e.metaKey || e.altKey) return;
  const tag = (e.target.tagName || "").toLowerCase();
  if (tag === "input" || tag === "textarea" || tag === "select" || e.target.isContentEditable) return;
  if (document.querySelector("dialog[open]")) return;
  const now = Date.now();
  if (pendingG && now - pendingG < 1200) {
    pendingG = 0;
    const to = { i: "inbox", c: "customers", t: "tasks", m: "manage" }[e.key];
    if (to && can(screens.find((s) => s.id === to).roles)) { e.preventDefault(); go(to); }
    return;
  }
  switch (e.key) {
    case "g": pendingG = now; break;
    case "/": {
      const s = document.querySelector("[data-search]");
      if (s) { e.preventDefault(); s.focus(); s.select && s.select(); }
      break;
    }
    case "?": e.preventDefault(); showShortcuts(); break;
    case "l": toggleLang(); break;
  }
}

async function boot() {
  setLang(savedLang() || "zh-CN");
  window.addEventListener("hashchange", render);
  window.addEventListener("keydown", onKey);
  window.addEventListener("rapport:signed-out", () => { if (state.me) signedOut(t("error.signedOut")); });
  // A one-time sign-in link: #signin=STAFF.CODE (the CLI prints it).
  const link = location.hash.match(/^#signin=(\d+)\.([A-Za-z0-9_-]+)$/);
  if (link) {
    mount($("#app"), loading(t("signin.link")));
    try {
      const me = await api("POST", "/console/api/sign-in", { staff: link[1], code: link[2] });
      history.replaceState(null, "", "#/inbox");
      return start(me);
    } catch (e) {
      history.replaceState(null, "", "#/inbox");
      return showSignIn(e.message);
    }
  }
  try {
    const me = await api("GET", "/console/api/me");
    if (!me.staff_id || !me.csrf_token) return showSignIn();
    start(me);
  } catch (e) {
    if (e.status === 401) return showSignIn();
    mount($("#app"), errorBox(e, boot));
  }
}

boot();
