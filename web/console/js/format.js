// Dates in the business time zone, the way people say them: "今天 14:05",
// "昨天 09:12", "3天前", a full date beyond a week. The server sends RFC
// 3339 instants; the zone comes from /console/api/me.
import { t } from "./i18n.js";

let zone = "Asia/Shanghai";
let fmt = null;

export function setZone(z) {
  try {
    new Intl.DateTimeFormat("en-CA", { timeZone: z });
    zone = z;
  } catch (e) {
    zone = "UTC";
  }
  fmt = null;
}

export function getZone() { return zone; }

function formatter() {
  if (!fmt) {
    fmt = new Intl.DateTimeFormat("en-CA", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    });
  }
  return fmt;
}

// parts is a date's calendar fields in the business zone.
export function parts(d) {
  const out = {};
  for (const p of formatter().formatToParts(d)) out[p.type] = p.value;
  return { y: out.year, m: out.month, d: out.day, H: out.hour, M: out.minute };
}

// dayNumber counts calendar days (in the zone) so differences are whole days.
function dayNumber(p) { return Date.UTC(+p.y, +p.m - 1, +p.d) / 86400000; }

// when is the human form of an instant relative to now.
export function when(iso, now = new Date()) {
  if (!iso) return t("common.none");
  const d = iso instanceof Date ? iso : new Date(iso);
  if (isNaN(d)) return String(iso);
  const p = parts(d), n = parts(now);
  const time = p.H + ":" + p.M;
  const ago = (now - d) / 60000;
  if (ago >= 0 && ago < 1) return t("date.justNow");
  if (ago >= 1 && ago < 60) return t("date.minutesAgo", { n: Math.floor(ago) });
  const days = dayNumber(n) - dayNumber(p);
  if (days === 0) return t("date.today", { time });
  if (days === 1) return t("date.yesterday", { time });
  if (days === -1) return t("date.tomorrow", { time });
  if (days > 1 && days < 7) return t("date.daysAgo", { n: days });
  if (days < -1 && days > -7) return t("date.inDays", { n: -days });
  return `${p.y}-${p.m}-${p.d}`;
}

// full is the exact time in the zone, for tooltips.
export function full(iso) {
  if (!iso) return "";
  const p = parts(new Date(iso));
  return `${p.y}-${p.m}-${p.d} ${p.H}:${p.M}`;
}

// today is the business date, YYYY-MM-DD (not toISOString(): that is UTC,
// yesterday before 08:00 in Shanghai).
export function today(now = new Date()) {
  const p = parts(now);
  return `${p.y}-${p.m}-${p.d}`;
}

// time builds a <time> element: human text, exact time on hover.
export function timeEl(iso, now) {
  const el = document.createElement("time");
  if (iso) {
    el.dateTime = iso;
    el.title = full(iso);
  }
  el.textContent = when(iso, now);
  return el;
}

// zoned is the instant of a business date (YYYY-MM-DD) at a time of day
// (HH:MM) in the business zone: "tomorrow 09:00" for a snooze.
export function zoned(date, hm) {
  const [y, m, d] = date.split("-").map(Number);
  const [H, M] = hm.split(":").map(Number);
  const guess = Date.UTC(y, m - 1, d, H, M);
  const p = parts(new Date(guess));
  const offset = Date.UTC(+p.y, +p.m - 1, +p.d, +p.H, +p.M) - guess;
  return new Date(guess - offset);
}

// addDays is a business date so many days after another.
export function addDays(date, n) {
  const [y, m, d] = date.split("-").map(Number);
  const x = new Date(Date.UTC(y, m - 1, d + n));
  return x.toISOString().slice(0, 10);
}

// weekday is a business date's day of the week, 0 = Sunday.
export function weekday(date) {
  const [y, m, d] = date.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d)).getUTCDay();
}

// number formats a count the way the language does (50,000).
export function number(n) { return Number(n || 0).toLocaleString("en-US"); }
