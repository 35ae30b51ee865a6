// Small DOM helpers: h() builds elements (never HTML strings, so nothing a
// customer writes can become markup), plus the shared loading, empty and
// error states every screen uses.
import { t } from "./i18n.js";

// h("button", {class: "act", onclick: fn}, "text", child, [more]) -> Element.
// Attributes: class, text, html is not supported on purpose; on* are
// listeners; booleans set or remove the attribute; null/undefined skip.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

// mount replaces el's content.
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function loading(label) {
  return h("p", { class: "loading", role: "status" }, h("span", { class: "spin", "aria-hidden": "true" }), label || t("common.loading"));
}

// empty is an empty state that says what to do next.
export function empty(title, hint, action) {
  return h("div", { class: "empty" }, h("p", { class: "empty-title" }, title), hint ? h("p", { class: "muted" }, hint) : null, action || null);
}

// errorBox shows an error where it happened, with a retry when given.
export function errorBox(err, retry) {
  return h("div", { class: "error", role: "alert" }, h("span", {}, messageOf(err)),
    retry ? h("button", { class: "link", type: "button", onclick: retry }, t("common.retry")) : null);
}

export function messageOf(err) {
  if (!err) return "";
  if (err.status === 0) return t("error.network");
  return err.message || String(err);
}

// field is a labelled form control.
export function field(label, control, hint) {
  const id = control.id || (control.id = "f" + Math.random().toString(36).slice(2, 9));
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hint ? h("small", { class: "muted" }, hint) : null);
}

// busy disables a button while fn runs and shows the error under it.
export async function busy(button, fn, errorSlot) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  if (errorSlot) errorSlot.replaceChildren();
  try {
    return await fn();
  } catch (e) {
    if (errorSlot) errorSlot.replaceChildren(errorBox(e));
    else throw e;
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

// dialog opens a modal; Escape or the close button closes it. Returns
// {el, close}. The element that had focus gets it back.
export function dialog(title, body, actions) {
  const back = document.activeElement;
  const close = () => { d.close(); d.remove(); if (back && back.focus) back.focus(); };
  const d = h("dialog", { class: "dialog", "aria-label": title },
    h("header", {}, h("h2", {}, title), h("button", { class: "icon", type: "button", "aria-label": t("common.close"), onclick: close }, "×")),
    h("div", { class: "dialog-body" }, body),
    actions ? h("footer", {}, actions) : null);
  d.addEventListener("cancel", (e) => { e.preventDefault(); close(); });
  document.body.append(d);
  d.showModal();
  const first = d.querySelector("input, textarea, select, button.act");
  if (first) first.focus();
  return { el: d, close };
}

let toastTimer;
// toast says something briefly (saved, sent).
export function toast(text) {
  const el = $("#toast");
  el.textContent = text;
  el.classList.add("on");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove("on"), 2500);
}

// copy puts text on the clipboard, saying so (where the clipboard is not
// allowed, the text stays on screen to copy by hand).
export function copy(text) {
  const done = () => toast(t("common.copied"));
  if (navigator.clipboard) navigator.clipboard.writeText(text).then(done, () => toast(t("common.copyFailed")));
  else toast(t("common.copyFailed"));
}
