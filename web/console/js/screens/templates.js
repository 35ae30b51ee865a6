// Templates (part 1: the old tab in the new shell; the versions table reads
// author and created_at as the API sends them; preview picks a customer by
// name. Part 2 adds live preview and a diff between versions.)
import { api, query } from "../api.js";
import { t } from "../i18n.js";
import { h, mount, loading, empty, errorBox, busy, field, toast } from "../dom.js";
import { when, full } from "../format.js";

export async function render(ctx) {
  mount(ctx.el, loading());
  let list;
  try {
    list = (await api("GET", "/templates")).items;
  } catch (e) {
    return mount(ctx.el, errorBox(e, () => render(ctx)));
  }
  const key = h("select", { id: "template-key", "aria-label": t("templates.key") },
    list.map((tp) => h("option", { value: tp.key + "|" + tp.locale }, `${tp.key} (${tp.locale}) v${tp.version}`)));
  const body = h("textarea", { id: "template-body", class: "code", rows: "8", "aria-label": t("templates.key") });
  const meta = h("p", { class: "muted small" });
  const who = h("input", { type: "search", placeholder: t("templates.previewFor"), "aria-label": t("templates.previewFor"), list: "template-customers" });
  const options = h("datalist", { id: "template-customers" });
  const out = h("div", { class: "slot" });
  const versions = h("div", {});
  const preview = h("button", { class: "ghost", type: "button" }, t("templates.preview"));
  const save = h("button", { class: "act", type: "button" }, t("templates.saveVersion"));
  mount(ctx.el, h("h1", { class: "screen-title" }, t("templates.title")),
    h("div", { class: "row" }, key),
    h("section", { class: "card" }, body, meta,
      h("div", { class: "row" }, who, options, preview, save), out),
    h("h2", {}, t("templates.versions")), versions);

  const cur = () => { const [k, locale] = key.value.split("|"); return { k, locale }; };
  const found = new Map(); // "name (#id)" -> id

  async function load() {
    const { k, locale } = cur();
    out.replaceChildren();
    mount(versions, loading());
    try {
      const tp = await api("GET", `/templates/${k}` + query({ locale }));
      body.value = tp.body;
      meta.textContent = t("templates.meta", { v: tp.version, by: tp.updated_by || t("templates.default"), when: tp.updated_at ? when(tp.updated_at) : "" });
      const vs = (await api("GET", `/templates/${k}/versions` + query({ locale }))).items || [];
      if (!vs.length) return mount(versions, empty(t("templates.default")));
      mount(versions, h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, t("templates.col.version")), h("th", {}, t("templates.col.by")), h("th", {}, t("templates.col.when")), h("th", {}))),
        h("tbody", {}, vs.map((v) => h("tr", {},
          h("td", {}, "v" + v.version, v.version === tp.version ? h("span", { class: "chip ok" }, t("templates.active")) : null),
          h("td", {}, v.author || t("templates.default")),
          h("td", { title: full(v.created_at) }, v.created_at ? when(v.created_at) : t("common.none")),
          h("td", {}, v.version !== tp.version ? h("button", { class: "ghost small", type: "button", onclick: (e) => busy(e.target, async () => {
            await api("POST", `/templates/${k}/rollback`, { version: v.version, locale });
            toast(t("common.saved"));
            load();
          }, out) }, t("templates.rollback")) : null))))));
    } catch (e) {
      mount(versions, errorBox(e, load));
    }
  }

  let searchTimer;
  who.addEventListener("input", () => {
    clearTimeout(searchTimer);
    const q = who.value.trim();
    if (q.length < 1 || found.has(q)) return;
    searchTimer = setTimeout(async () => {
      try {
        const res = await api("GET", "/customers" + query({ q, limit: 10 }));
        mount(options, res.items.map((c) => {
          const label = `${c.name || t("customer.noName")} (#${c.id})`;
          found.set(label, c.id);
          return h("option", { value: label });
        }));
      } catch (e) { /* the preview says it */ }
    }, 250);
  });

  preview.onclick = () => busy(preview, async () => {
    const { k, locale } = cur();
    const req = { body: body.value, locale };
    if (found.has(who.value)) req.customer_id = found.get(who.value);
    const r = await api("POST", `/templates/${k}/preview`, req);
    mount(out, h("pre", { class: "preview" }, r.text));
  }, out);
  save.onclick = () => busy(save, async () => {
    const { k, locale } = cur();
    await api("PUT", `/templates/${k}`, { body: body.value, locale });
    toast(t("common.saved"));
    load();
  }, out);
  key.onchange = load;
  load();
}
