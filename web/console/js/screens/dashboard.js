// The managers' dashboard (their console home): one report at a time
// (overview, lifecycle, care, satisfaction, complaints, staff, campaigns,
// points) for a period beside the period before, each section a figure or an ECharts
// chart with its CSV export; a click on a bar opens the customers behind
// it (the section's drill query). ECharts is vendor/echarts.min.js,
// loaded once as a classic script (it defines window.echarts).
import { api, query } from "../api.js";
import { t } from "../i18n.js";
import { h, mount, loading, errorBox } from "../dom.js";
import { today, addDays } from "../format.js";

const REPORTS = ["overview", "lifecycle", "care", "satisfaction", "complaints", "staff", "campaigns", "points"];

let echartsReady;
function loadECharts() {
  if (window.echarts) return Promise.resolve(window.echarts);
  if (!echartsReady) {
    echartsReady = new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = "vendor/echarts.min.js";
      s.onload = () => resolve(window.echarts);
      s.onerror = () => { echartsReady = null; reject(new Error("echarts")); };
      document.head.append(s);
    });
  }
  return echartsReady;
}

// The presets are business dates (the zone /console/api/me names), not the
// browser's: from another zone, or after midnight in Shanghai while it is
// still yesterday in UTC, the browser's date would leave today out.
function presets() {
  const end = today();
  const [y, m] = end.split("-");
  const first = `${y}-${m}-01`;
  const lastMonthEnd = addDays(first, -1);
  return [
    ["dash.last7", addDays(end, -6), end],
    ["dash.last30", addDays(end, -29), end],
    ["dash.thisMonth", first, end],
    ["dash.lastMonth", lastMonthEnd.slice(0, 8) + "01", lastMonthEnd],
  ];
}

// value formats a section's value in its unit.
export function value(unit, v) {
  switch (unit) {
    case "fen": return "¥" + (v / 100).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    case "bp": return (v / 100).toFixed(2) + "%";
    case "minutes": return v >= 120 ? (v / 60).toFixed(1) + " h" : v + " min";
    default: return v.toLocaleString();
  }
}

function delta(cur, prev) {
  if (!prev) return "";
  const p = ((cur - prev) / Math.abs(prev)) * 100;
  return (p >= 0 ? "▲ " : "▼ ") + Math.abs(p).toFixed(1) + "%";
}

function sectionTitle(name) {
  const k = "dash.s." + name;
  const s = t(k);
  return s === k ? name : s;
}

function rowLabel(sec, r) {
  if (r.label) return r.label;
  if (sec.name.endsWith("by_stage") || sec.name === "lifecycle.funnel") return t("stage." + r.key);
  const k = "dash.k." + r.key;
  const s = t(k);
  return s === k ? (r.key || t("dash.total")) : s;
}

export function render(ctx) {
  const saved = JSON.parse(sessionStorage.getItem("rapport.dashboard") || "{}");
  const p = presets();
  const state = { report: REPORTS.includes(saved.report) ? saved.report : "overview", from: saved.from || p[1][1], to: saved.to || p[1][2] };
  const from = h("input", { type: "date", id: "dash-from", "aria-label": t("dash.from"), value: state.from });
  const to = h("input", { type: "date", id: "dash-to", "aria-label": t("dash.to"), value: state.to });
  const tabs = h("div", { class: "row tabs", role: "tablist" });
  const body = h("div", { class: "dash-body" });
  const note = h("p", { class: "muted small", id: "dash-note" });
  let charts = [];

  const paintTabs = () => mount(tabs, REPORTS.map((r) => h("button", {
    type: "button", role: "tab", class: r === state.report ? "tab on" : "tab", "aria-selected": r === state.report ? "true" : "false",
    dataset: { report: r }, onclick: () => { state.report = r; load(); },
  }, t("dash.r." + r))));

  mount(ctx.el, h("h1", { class: "screen-title" }, t("dash.title")),
    h("form", { class: "row filters-bar", onsubmit: (e) => { e.preventDefault(); state.from = from.value; state.to = to.value; load(); } },
      from, h("span", { class: "muted" }, "–"), to, h("button", { class: "act", type: "submit" }, t("dash.apply")),
      p.map(([k, f, tt]) => h("button", { class: "ghost small", type: "button", onclick: () => { from.value = state.from = f; to.value = state.to = tt; load(); } }, t(k))),
      h("button", { class: "ghost small", type: "button", id: "dash-refresh", title: t("dash.refreshHint"), onclick: (e) => refresh(e.target) }, t("dash.refresh"))),
    tabs, note, body);

  function dispose() {
    for (const c of charts) c.dispose();
    charts = [];
  }

  function csvLink(sec) {
    const href = "/api/v1/reports/" + state.report + query({ from: state.from, to: state.to, section: sec.name, format: "csv" });
    return h("a", { class: "small csv", href, download: "", "data-section": sec.name }, t("dash.csv"));
  }

  function drill(sec, key) {
    if (!sec.drill) return;
    ctx.go("customers?" + sec.drill.replace("{key}", encodeURIComponent(key)));
  }

  // A card per section: figures for a few headline rows, a chart for
  // dimensions and days.
  function card(echarts, a, sec) {
    const head = h("header", { class: "row" }, h("h2", {}, sectionTitle(sec.name)), h("span", { class: "grow" }), csvLink(sec));
    const headline = !sec.series && sec.rows.length >= 1 && sec.rows.length <= 3 && !sec.drill;
    if (headline) {
      return h("section", { class: "card dash-card kpis", dataset: { section: sec.name } }, head,
        h("div", { class: "row" }, sec.rows.map((r) => h("div", { class: "kpi" },
          h("div", { class: "muted small" }, rowLabel(sec, r)),
          h("div", { class: "kpi-value" }, value(sec.unit, r.current)),
          // A current figure (sec.now) has no previous period.
          h("div", { class: "muted small" }, sec.now ? t("dash.now") : t("dash.previous") + " " + value(sec.unit, r.previous) + " " + delta(r.current, r.previous))))));
    }
    const box = h("div", { class: "chart", style: null });
    const el = h("section", { class: "card dash-card", dataset: { section: sec.name } }, head,
      sec.rows.length ? box : h("p", { class: "muted" }, t("dash.empty")),
      sec.drill && sec.rows.length ? h("p", { class: "muted small" }, t("dash.drillHint")) : null);
    if (!sec.rows.length) return el;
    requestAnimationFrame(() => {
      box.style.height = sec.series ? "240px" : Math.max(160, 28 * sec.rows.length + 60) + "px";
      const chart = echarts.init(box, null, { renderer: "canvas" });
      charts.push(chart);
      const labels = sec.rows.map((r) => rowLabel(sec, r));
      const fmt = (v) => value(sec.unit, v);
      const cur = { name: t("dash.current"), type: sec.series ? "line" : "bar", data: sec.rows.map((r) => r.current) };
      const prev = { name: t("dash.previous"), type: sec.series ? "line" : "bar", data: sec.rows.map((r) => r.previous), itemStyle: { opacity: 0.45 }, lineStyle: { type: "dashed" } };
      const cat = { type: "category", data: labels, inverse: !sec.series };
      const val = { type: "value", axisLabel: { formatter: fmt } };
      chart.setOption({
        animation: false,
        grid: { left: 8, right: 24, top: 28, bottom: 8, containLabel: true },
        legend: { top: 0 },
        // richText: the tooltip is drawn on the canvas, so the console's
        // style policy (no inline styles) does not stop it.
        tooltip: { trigger: "axis", renderMode: "richText", valueFormatter: fmt },
        xAxis: sec.series ? cat : val,
        yAxis: sec.series ? val : cat,
        series: sec.now ? [cur] : [cur, prev],
      });
      if (sec.drill) {
        chart.on("click", (e) => drill(sec, sec.rows[e.dataIndex].key));
        box.classList.add("drill");
      }
      box.dataset.chart = chart.id;
    });
    return el;
  }

  let seq = 0;
  async function load() {
    const mine = ++seq;
    sessionStorage.setItem("rapport.dashboard", JSON.stringify(state));
    paintTabs();
    dispose();
    mount(body, loading());
    try {
      const [echarts, a] = await Promise.all([loadECharts(), api("GET", "/reports/" + state.report + query({ from: state.from, to: state.to }))]);
      if (mine !== seq) return;
      note.textContent = t("dash.period", { from: a.from, to: a.to, pfrom: a.previous_from, pto: a.previous_to, tz: a.timezone });
      mount(body, h("div", { class: "dash-grid", dataset: { report: a.report } }, a.sections.map((s) => card(echarts, a, s))));
    } catch (e) {
      if (mine === seq) mount(body, errorBox(e, load));
    }
  }
  // refresh recomputes today's figures (otherwise every few minutes).
  async function refresh(button) {
    button.disabled = true;
    try {
      await api("POST", "/reports/refresh");
      await load();
    } catch (e) {
      mount(body, errorBox(e, load));
    } finally {
      button.disabled = false;
    }
  }
  const onResize = () => charts.forEach((c) => c.resize());
  window.addEventListener("resize", onResize);
  load();
  return () => { dispose(); window.removeEventListener("resize", onResize); };
}
