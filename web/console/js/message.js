// One message as a bubble: the customer's on the left; ours on the right,
// marked by who sent it (an agent, the bot's automatic answer, a care
// workflow); voice, images, stickers, places and contact cards shown as
// what they are.
import { t } from "./i18n.js";
import { h } from "./dom.js";
import { timeEl } from "./format.js";

// senderOf tells our messages apart: a care workflow's, a template the bot
// answered with, or typed by an agent.
export function senderOf(m) {
  if (m.direction !== "out") return "customer";
  if (m.workflow) return "care";
  if (m.template_key) return "bot";
  return "staff";
}

const icons = {
  voice: "🎤", audio: "🎵", photo: "🖼️", image: "🖼️", sticker: "", location: "📍", venue: "📍", contact: "👤",
  video: "🎬", video_note: "🎬", animation: "🎞️", document: "📎", link: "🔗", dice: "🎲", poll: "📊",
};

function duration(s) {
  if (!s) return "";
  return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
}

// placeholder reports a text the adapter made up ("[语音 0:12]") for a
// message with no words of its own.
function placeholder(text) { return /^\[[^\]]*\]$/.test((text || "").trim()); }

function safeURL(u) { return /^https?:\/\//i.test(u || "") ? u : null; }

// content is the body of a bubble by kind.
function content(m) {
  const md = m.media || {};
  const kind = m.kind || "text";
  const words = placeholder(m.text) ? "" : m.text;
  if (kind === "text" || kind === "callback" || (!icons[kind] && kind !== "sticker")) {
    return h("div", { class: "text" }, m.text);
  }
  const label = t("kind." + kind);
  const out = [];
  switch (kind) {
    case "voice":
    case "audio":
      out.push(h("div", { class: "media-line" }, icons[kind] + " " + label, md.duration ? " " + duration(md.duration) : "",
        md.title ? " · " + md.title : ""));
      if (md.recognition) out.push(h("div", { class: "text quote" }, md.recognition));
      break;
    case "sticker":
      out.push(h("div", { class: "sticker", "aria-label": label }, md.emoji || "🙂"), h("div", { class: "media-line muted" }, label));
      break;
    case "location":
    case "venue": {
      const lat = md.latitude, lng = md.longitude;
      const place = [md.title, md.label, md.address].filter(Boolean).join(" · ");
      out.push(h("div", { class: "media-line" }, icons[kind] + " " + label + (place ? "：" + place : "")));
      if (lat != null && lng != null) {
        out.push(h("div", { class: "media-line" }, h("a", {
          href: `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lng}#map=16/${lat}/${lng}`, target: "_blank", rel: "noopener noreferrer",
        }, `${(+lat).toFixed(5)}, ${(+lng).toFixed(5)} · ${t("kind.openMap")}`)));
      }
      break;
    }
    case "contact":
      out.push(h("div", { class: "media-line" }, "👤 " + label + "：" + [md.name, md.phone].filter(Boolean).join(" ")));
      break;
    case "link": {
      const url = safeURL(md.url);
      out.push(h("div", { class: "media-line" }, "🔗 ", url ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, md.title || url) : (md.title || label)));
      if (md.description) out.push(h("div", { class: "muted small" }, md.description));
      return out;
    }
    case "dice":
      out.push(h("div", { class: "media-line" }, (md.emoji || "🎲") + " " + label + (md.dice_value ? " = " + md.dice_value : "")));
      break;
    case "poll":
      out.push(h("div", { class: "media-line" }, "📊 " + label + "：" + (md.title || "")),
        md.options ? h("ul", { class: "plain small" }, md.options.map((o) => h("li", {}, "○ " + o))) : null);
      break;
    default: {
      const pic = safeURL(md.pic_url);
      out.push(h("div", { class: "media-line" }, icons[kind] + " " + label,
        md.duration ? " " + duration(md.duration) : "", md.file_name ? " · " + md.file_name : "",
        pic ? [" · ", h("a", { href: pic, target: "_blank", rel: "noopener noreferrer" }, t("kind.photo"))] : ""));
    }
  }
  if (words && words !== md.recognition) out.push(h("div", { class: "text" }, words));
  return out;
}

// messageEl is one bubble; data-id and data-status let the live stream
// update it in place.
export function messageEl(m) {
  const who = senderOf(m);
  const statusText = m.direction === "out" ? t("status." + m.status) : "";
  return h("div", { class: `msg ${m.direction === "out" ? "out" : "in"} by-${who}${m.status === "failed" ? " failed" : ""}`, dataset: { id: m.id, status: m.status } },
    who !== "customer" ? h("div", { class: "by" }, t("conv.by." + who), m.template_key && who !== "staff" ? " · " + m.template_key : "") : null,
    content(m),
    h("div", { class: "meta" }, t("channel." + m.channel), " · ", timeEl(m.created_at),
      statusText ? h("span", { class: "status status-" + m.status }, " · " + statusText) : null,
      m.status === "failed" || m.status === "skipped" ? (m.reason ? h("span", { class: "reason" }, " · " + m.reason) : null) : null));
}
