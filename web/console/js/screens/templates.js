// Templates (managers): edit a text with its preview rendered live as you
// type, for a customer found by name (or sample data); save it as a new
// version; compare any two versions (or the draft) line by line; roll
// back. Previews are limited on the server (a few at once): a busy answer
// (503) is retried after its Retry-After, backing off, and only the latest
// text is ever previewed.
import { api, query } from "../api.js";
import { t } from "../i18n.js";
import { h, mount, loading, empty, errorBox, busy, toast, messageOf } from "../dom.js";
import { when, full } from "../format.js";
import { lineDiff } from "../diff.js";

export async function render(ctx) {
  mount(ctx.el, loading());
  let list;
  try {
    list = (await api("GET", "/templates")).items;
  } catch (e) {
    return mount(ctx.el, errorBox(e, () => render(ctx)));
  }
  const saved = sessionStorage.getItem("rapport.template") || "";
  const key = h("select", { id: "template-key", "aria-label": t("templates.key") },
    list.map((tp) => h("option", { value: tp.key + "|" + tp.locale, selected: saved === tp.key + "|" + tp.locale }, `${tp.key} (${tp.locale}) v${tp.version}`)));
  const meta = h("span", { class: "muted small" });
  const body = h("textarea", { id: "template-body", class: "code", rows: "12", spellcheck: "false", "aria-label": t("templates.body") });
  const draftNote = h("span", { class: "small muted", id: "template-draft" });
  const saveErr = h("div", { class: "slot" });
  const save = h("button", { class: "act", type: "button", id: "template-save" }, t("templates.saveVersion"));
  const revert = h("button", { class: "ghost", type: "button", id: "template-revert" }, t("templates.revert"));

  // The preview's customer: search by name, pick from the results.
  const who = h("input", { type: "search", id: "template-customer", placeholder: t("templates.searchCustomer"), "aria-label": t("templates.searchCustomer"), autocomplete: "off" });
  const results = h("ul", { class: "plain pick-list", id: "template-customers", hidden: true, role: "listbox" });
  const chosen = h("div", { class: "row small", id: "template-for" });
  const previewOut = h("pre", { class: "preview", id: "template-preview", "aria-live": "polite" });
  const previewState = h("p", { class: "small muted", id: "template-preview-state", role: "status" });
  const versions = h("div", { class: "table-wrap" });
  const diffFrom = h("select", { id: "diff-from", class: "small", "aria-label": t("templates.diffFrom") });
  const diffTo = h("select", { id: "diff-to", class: "small", "aria-label": t("templates.diffTo") });
  const diffOut = h("div", { id: "template-diff" });

  mount(ctx.el, h("h1", { class: "screen-title" }, t("templates.title")),
    h("div", { class: "row filters-bar" }, key, meta),
    h("div", { class: "tpl" },
      h("section", { class: "card" }, h("h2", {}, t("templates.edit")), body,
        h("div", { class: "row between" }, draftNote, h("span", { class: "row" }, revert, save)), saveErr),
      h("section", { class: "card" }, h("h2", {}, t("templates.livePreview")),
        h("div", { class: "pick" }, who, results), chosen, previewOut, previewState)),
    h("section", { class: "card" }, h("h2", {}, t("templates.versions")), versions),
    h("section", { class: "card" }, h("div", { class: "row" }, h("h2", { class: "grow" }, t("templates.diff")),
      diffFrom, h("span", { "aria-hidden": "true" }, "→"), diffTo), diffOut));

  const cur = () => { const [k, locale] = key.value.split("|"); return { k, locale }; };
  let active = null; // the active version's template
  let vs = [];       // versions, newest first
  let customer = null; // {id, name} the preview is for

  // --- the live preview ---
  let previewTimer = 0, retryTimer = 0, backoff = 0, inflight = false, again = false;
  function schedulePreview(delay = 400) {
    if (retryTimer) return; // the retry previews the latest text
    clearTimeout(previewTimer);
    previewTimer = setTimeout(runPreview, delay);
  }
  async function runPreview() {
    if (inflight) { again = true; return; }
    inflight = true;
    const { k, locale } = cur();
    previewState.textContent = t("templates.previewing");
    previewOut.classList.add("stale");
    try {
      const req = { body: body.value, locale };
      if (customer) req.customer_id = customer.id;
      const r = await api("POST", `/templates/${k}/preview`, req);
      backoff = 0;
      previewOut.textContent = r.text;
      previewOut.classList.remove("stale", "refused");
      previewState.textContent = customer ? t("templates.previewFor", { name: customer.name }) : t("templates.previewSample");
    } catch (e) {
      if (e.status === 503) {
        backoff = Math.min(backoff ? backoff * 2 : Math.max(e.retryAfter || 1, 1), 16);
        previewState.textContent = t("templates.previewBusy", { n: backoff });
        retryTimer = setTimeout(() => { retryTimer = 0; runPreview(); }, backoff * 1000);
      } else if (e.status === 422) {
        previewOut.textContent = messageOf(e);
        previewOut.classList.add("refused");
        previewOut.classList.remove("stale");
        previewState.textContent = t("templates.previewRefused");
      } else {
        previewState.textContent = messageOf(e);
      }
    } finally {
      inflight = false;
      if (again) { again = false; schedulePreview(0); }
    }
  }

  function paintChosen() {
    mount(chosen, customer
      ? [h("span", {}, t("templates.for")), h("span", { class: "chip ok" }, customer.name), h("button", { class: "link", type: "button", id: "template-customer-clear", onclick: () => { customer = null; paintChosen(); schedulePreview(0); } }, t("templates.useSample"))]
      : h("span", { class: "muted" }, t("templates.sampleHint")));
  }

  let searchTimer = 0, searchSeq = 0;
  who.addEventListener("input", () => {
    clearTimeout(searchTimer);
    const q = who.value.trim();
    if (!q) { results.hidden = true; return; }
    searchTimer = setTimeout(async () => {
      const mine = ++searchSeq;
      mount(results, h("li", {}, loading()));
      results.hidden = false;
      try {
        const res = await api("GET", "/customers" + query({ q, limit: 8 }));
        if (mine !== searchSeq) return;
        if (!res.items.length) return mount(results, h("li", { class: "muted small pad" }, t("templates.noCustomer", { q })));
        mount(results, res.items.map((c) => h("li", {}, h("button", { type: "button", class: "pick-item", role: "option", dataset: { customer: c.id }, onclick: () => pick(c) },
          h("strong", {}, c.name || t("customer.noName")), " ", h("span", { class: "muted small" }, [c.phone, t("col.tier") + " " + c.tier].filter(Boolean).join(" · "))))));
      } catch (e) {
        mount(results, h("li", {}, errorBox(e)));
      }
    }, 250);
  });
  who.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { results.hidden = true; return; }
    if (e.key === "ArrowDown" || e.key === "Enter") {
      const first = results.querySelector("button");
      if (first && !results.hidden) { e.preventDefault(); e.key === "Enter" ? first.click() : first.focus(); }
    }
  });
  results.addEventListener("keydown", (e) => {
    const items = [...results.querySelectorAll("button")];
    const i = items.indexOf(document.activeElement);
    if (e.key === "ArrowDown" && items[i + 1]) { e.preventDefault(); items[i + 1].focus(); }
    if (e.key === "ArrowUp") { e.preventDefault(); (items[i - 1] || who).focus(); }
    if (e.key === "Escape") { results.hidden = true; who.focus(); }
  });
  function pick(c) {
    customer = { id: c.id, name: c.name || t("customer.noName") };
    results.hidden = true;
    who.value = "";
    paintChosen();
    schedulePreview(0);
  }

  // --- editing ---
  function paintDraft() {
    const changed = active && body.value !== active.body;
    draftNote.textContent = changed ? t("templates.draftChanged") : t("templates.draftSame");
    draftNote.className = "small " + (changed ? "warn" : "muted");
    save.disabled = !changed;
    revert.hidden = !changed;
  }
  body.addEventListener("input", () => { paintDraft(); schedulePreview(); paintDiff(); });
  body.addEventListener("keydown", (e) => { if (e.key === "s" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); if (!save.disabled) save.click(); } });
  revert.onclick = () => { body.value = active.body; paintDraft(); schedulePreview(0); paintDiff(); };
  save.onclick = () => busy(save, async () => {
    const { k, locale } = cur();
    await api("PUT", `/templates/${k}`, { body: body.value, locale });
    toast(t("templates.savedVersion"));
    await load(true);
  }, saveErr).then(paintDraft); // busy enables the button again

  // --- versions and the diff ---
  function paintVersions() {
    const { k, locale } = cur();
    if (!vs.length) return mount(versions, empty(t("templates.default")));
    mount(versions, h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, t("templates.col.version")), h("th", {}, t("templates.col.by")), h("th", {}, t("templates.col.when")), h("th", {}))),
      h("tbody", {}, vs.map((v, i) => h("tr", { dataset: { version: v.version } },
        h("td", {}, "v" + v.version, " ", v.version === active.version ? h("span", { class: "chip ok" }, t("templates.active")) : null),
        h("td", {}, v.author || t("templates.default")),
        h("td", { title: full(v.created_at) }, v.created_at ? when(v.created_at) : t("common.none")),
        h("td", {}, h("div", { class: "row" },
          vs[i + 1] ? h("button", { class: "ghost small", type: "button", dataset: { compare: v.version }, onclick: () => {
            diffFrom.value = String(vs[i + 1].version);
            diffTo.value = String(v.version);
            paintDiff();
            diffOut.scrollIntoView({ block: "nearest" });
          } }, t("templates.compare")) : null,
          v.version !== active.version ? h("button", { class: "ghost small", type: "button", onclick: (e) => busy(e.target, async () => {
            if (!confirm(t("templates.rollbackConfirm", { v: v.version }))) return;
            await api("POST", `/templates/${k}/rollback`, { version: v.version, locale });
            toast(t("templates.rolledBack", { v: v.version }));
            await load(true);
          }, saveErr) }, t("templates.rollback")) : null)))))));
    const opts = (sel) => [vs.map((v) => h("option", { value: v.version, selected: String(v.version) === sel }, "v" + v.version + (v.version === active.version ? " · " + t("templates.active") : ""))),
      h("option", { value: "draft", selected: sel === "draft" }, t("templates.draft"))];
    const from = diffFrom.value || String(vs[1] ? vs[1].version : vs[0].version);
    const to = diffTo.value || "draft";
    mount(diffFrom, opts(from));
    mount(diffTo, opts(to));
  }

  function textOf(v) {
    if (v === "draft") return body.value;
    const found = vs.find((x) => String(x.version) === v);
    return found ? found.body : "";
  }

  function paintDiff() {
    if (!vs.length) return mount(diffOut);
    const lines = lineDiff(textOf(diffFrom.value), textOf(diffTo.value));
    const added = lines.filter((l) => l.op === "+").length, removed = lines.filter((l) => l.op === "-").length;
    if (!added && !removed) return mount(diffOut, h("p", { class: "muted small" }, t("templates.diffSame")));
    mount(diffOut, h("p", { class: "small" }, h("span", { class: "ok" }, "+" + added), " ", h("span", { class: "bad" }, "−" + removed)),
      h("pre", { class: "diff" }, lines.map((l) => h("div", { class: "diff-line " + (l.op === "+" ? "add" : l.op === "-" ? "del" : "same") },
        h("span", { class: "diff-op", "aria-hidden": "true" }, l.op === " " ? " " : l.op), h("span", { class: "sr-only" }, l.op === "+" ? t("templates.added") : l.op === "-" ? t("templates.removed") : ""),
        l.text || " "))));
  }
  diffFrom.onchange = paintDiff;
  diffTo.onchange = paintDiff;

  async function load(keepCustomer) {
    const { k, locale } = cur();
    sessionStorage.setItem("rapport.template", key.value);
    mount(versions, loading());
    mount(saveErr);
    diffFrom.value = diffTo.value = "";
    try {
      active = await api("GET", `/templates/${k}` + query({ locale }));
      body.value = active.body;
      meta.textContent = t("templates.meta", { v: active.version, by: active.updated_by || t("templates.default"), when: active.updated_at ? when(active.updated_at) : "" });
      paintDraft();
      if (!keepCustomer) paintChosen();
      schedulePreview(0);
      vs = (await api("GET", `/templates/${k}/versions` + query({ locale, limit: 100 }))).items || [];
      // The list's option shows the active version.
      const opt = key.selectedOptions[0];
      if (opt) opt.textContent = `${k} (${locale}) v${active.version}`;
      paintVersions();
      paintDiff();
    } catch (e) {
      mount(versions, errorBox(e, () => load(keepCustomer)));
    }
  }
  key.onchange = () => load(true);
  paintChosen();
  await load(true);
  return () => { clearTimeout(previewTimer); clearTimeout(retryTimer); clearTimeout(searchTimer); };
}
