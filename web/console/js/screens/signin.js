// Sign-in: a one-time code sent to the staff member's bound chat account,
// or a password. No API token is ever pasted here.
import { api } from "../api.js";
import { t, setLang, getLang } from "../i18n.js";
import { h, mount, field, errorBox, busy } from "../dom.js";

export function render({ el, message, done }) {
  let mode = "code";
  let codeSent = false;

  const who = h("input", { id: "signin-who", name: "username", autocomplete: "username", required: true, maxlength: "128" });
  const code = h("input", { id: "signin-code", name: "code", inputmode: "numeric", autocomplete: "one-time-code", maxlength: "64" });
  const password = h("input", { id: "signin-password", name: "password", type: "password", autocomplete: "current-password", maxlength: "128" });
  const err = h("div", { class: "slot" }, message ? errorBox({ message }) : null);
  const note = h("p", { class: "note", role: "status" });
  const body = h("div", {});

  const form = h("form", { class: "card signin", novalidate: true, onsubmit: submit },
    h("div", { class: "signin-head" },
      h("h1", {}, t("signin.title")),
      h("button", { type: "button", class: "ghost small", onclick: () => { setLang(getLang() === "zh-CN" ? "en" : "zh-CN"); mount(el); render({ el, message, done }); } }, t("nav.language"))),
    body, note, err);
  mount(el, form);
  paint();

  function paint() {
    const primary = h("button", { class: "act wide", type: "submit", id: "signin-submit" },
      mode === "password" ? t("signin.submit") : codeSent ? t("signin.submit") : t("signin.sendCode"));
    const other = h("button", { type: "button", class: "link", id: "signin-mode", onclick: () => {
      mode = mode === "code" ? "password" : "code";
      err.replaceChildren();
      note.textContent = "";
      paint();
    } }, mode === "code" ? t("signin.usePassword") : t("signin.useCode"));
    mount(body,
      field(t("signin.who"), who, mode === "code" ? t("signin.whoHint") : null),
      mode === "code" && codeSent ? field(t("signin.code"), code) : null,
      mode === "password" ? field(t("signin.password"), password) : null,
      primary,
      h("div", { class: "row between" }, other,
        mode === "code" && codeSent ? h("button", { type: "button", class: "link", onclick: () => sendCode(primary) }, t("signin.resend")) : null),
      mode === "code" ? h("p", { class: "muted small" }, t("signin.noChat")) : null);
    (mode === "code" && codeSent ? code : mode === "password" && who.value ? password : who).focus();
  }

  async function sendCode(button) {
    await busy(button, async () => {
      await api("POST", "/console/api/sign-in/code", { staff: who.value.trim() });
      codeSent = true;
      paint();
      note.textContent = t("signin.codeSent");
    }, err);
  }

  async function submit(e) {
    e.preventDefault();
    const button = form.querySelector("#signin-submit");
    if (!who.value.trim()) { who.focus(); return; }
    if (mode === "code" && !codeSent) return sendCode(button);
    await busy(button, async () => {
      const body = { staff: who.value.trim() };
      if (mode === "code") body.code = code.value.trim();
      else body.password = password.value;
      const me = await api("POST", "/console/api/sign-in", body);
      done(me);
    }, err);
  }
}
