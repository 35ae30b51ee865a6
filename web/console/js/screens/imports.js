// Imports (managers): upload a CSV of customers, orders or opening points
// balances; it runs on the server in the background, and its progress (rows checked, then
// written, of the total; bad rows as they are found) shows here, polled
// while anything runs. Leave and come back, or reload: the jobs are the
// server's. The bad rows of a job download as a CSV file.
import { api, upload, query } from "../api.js";
import { t } from "../i18n.js";
import { h, mount, loading, empty, errorBox, messageOf } from "../dom.js";
import { when, full, number } from "../format.js";

const active = ["queued", "checking", "writing"];

// size is a file size people read (KB, MB).
function size(n) {
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KB";
  return (n / 1024 / 1024).toFixed(1) + " MB";
}

export function render(ctx) {
  const kind = h("select", { id: "import-kind" }, ["customers", "orders", "points"].map((k) => h("option", { value: k }, t("imports.kind." + k))));
  const skip = h("input", { type: "checkbox", id: "import-skip" });
  const file = h("input", { type: "file", id: "import-file", accept: ".csv,text/csv" });
  const go = h("button", { class: "act", type: "submit", id: "import-start" }, t("imports.start"));
  const columns = h("p", { class: "muted small", id: "import-columns" });
  const sending = h("div", { class: "slot", role: "status" });
  const jobs = h("div", { id: "import-jobs" });
  mount(ctx.el, h("h1", { class: "screen-title" }, t("imports.title")),
    h("form", { class: "card", onsubmit: (e) => { e.preventDefault(); start(); } },
      h("h2", {}, t("imports.new")),
      h("div", { class: "row" }, h("label", { class: "check" }, t("imports.kind"), kind), file),
      columns,
      h("label", { class: "check" }, skip, " ", t("imports.skip")),
      h("p", { class: "muted small" }, t("imports.skipHint")),
      h("div", { class: "row" }, go), sending),
    h("h2", {}, t("imports.jobs")), jobs);
  const paintColumns = () => { columns.textContent = t("imports.columns." + kind.value); };
  kind.onchange = paintColumns;
  paintColumns();

  async function start() {
    const f = file.files[0];
    if (!f) return mount(sending, h("div", { class: "error", role: "alert" }, t("imports.pickFile")));
    go.disabled = true;
    const bar = h("progress", { max: "1", value: "0" });
    mount(sending, h("p", { class: "small" }, t("imports.uploading", { name: f.name })), bar);
    try {
      await upload("/imports" + query({ kind: kind.value, skip_bad_rows: skip.checked, file_name: f.name }), f, (share) => { bar.value = share; });
      mount(sending);
      file.value = "";
      refresh();
    } catch (e) {
      mount(sending, h("div", { class: "error", role: "alert" }, e.status === 413 ? t("imports.tooBig") : messageOf(e)));
    } finally {
      go.disabled = false;
    }
  }

  function status(j) {
    if (j.status === "failed" && j.bad_rows > 0 && !j.skip_bad_rows && j.rows_total > 0) return t("imports.failedBad", { n: number(j.bad_rows) });
    return j.error || "";
  }

  function jobEl(j) {
    const running = active.includes(j.status);
    const total = j.rows_total || 0;
    const share = total ? Math.min(j.rows_done / total, 1) : 0;
    return h("li", { class: "card import-job", dataset: { job: j.id, status: j.status } },
      h("div", { class: "row between" },
        h("strong", {}, j.file_name || t("imports.kind." + j.kind), " ", h("span", { class: "muted small" }, t("imports.kind." + j.kind))),
        h("span", { class: "chip " + ({ done: "ok", failed: "bad" }[j.status] || "warn") }, t("imports.status." + j.status))),
      running && j.status !== "queued" ? [
        h("progress", { max: "1", value: String(share), "aria-label": t("imports.status." + j.status) }),
        h("p", { class: "small import-progress" }, t(j.status === "checking" ? "imports.checking" : "imports.writing", { done: number(j.rows_done), total: number(total) }),
          j.bad_rows ? h("span", { class: "bad" }, " · " + t("imports.badSoFar", { n: number(j.bad_rows) })) : null),
      ] : null,
      j.status === "queued" ? h("p", { class: "small muted" }, t("imports.queued")) : null,
      j.status === "done" ? h("p", { class: "small import-result" }, t("imports.result", { rows: number(j.rows_total), written: number(j.written),
        created: number(j.created), updated: number(j.updated) }),
        j.duplicates ? h("span", {}, " · " + t("imports.dups", { n: number(j.duplicates) })) : null,
        j.bad_rows ? h("span", { class: "bad" }, " · " + t("imports.bad", { n: number(j.bad_rows) })) : null) : null,
      j.status === "failed" ? h("p", { class: "small bad" }, status(j)) : null,
      !running && j.bad_rows > 0 ? h("p", { class: "small" }, h("a", { href: `/api/v1/imports/${j.id}/bad-rows.csv`, download: `import-${j.id}-bad-rows.csv`, id: "bad-rows-" + j.id },
        "⬇ " + t("imports.download", { n: number(j.bad_rows_kept) })), j.bad_rows > j.bad_rows_kept ? h("span", { class: "muted" }, " " + t("imports.keptOnly", { n: number(j.bad_rows_kept) })) : null) : null,
      h("p", { class: "small muted", title: full(j.created_at) }, t("imports.by", { who: j.created_by ? ctx.staffName(j.created_by) : t("audit.system"), when: when(j.created_at) }),
        " · ", size(j.file_bytes)));
  }

  let timer = 0, gone = false, first = true;
  async function refresh() {
    clearTimeout(timer);
    if (first) mount(jobs, loading());
    try {
      const res = await api("GET", "/imports" + query({ limit: 20 }));
      if (gone) return;
      first = false;
      mount(jobs, res.items.length ? h("ul", { class: "plain" }, res.items.map(jobEl)) : empty(t("imports.empty"), t("imports.emptyHint")));
      // Poll while something runs: every second, stopping when done.
      if (res.items.some((j) => active.includes(j.status))) timer = setTimeout(refresh, 1000);
    } catch (e) {
      if (gone) return;
      mount(jobs, errorBox(e, refresh));
    }
  }
  refresh();
  return () => { gone = true; clearTimeout(timer); };
}
