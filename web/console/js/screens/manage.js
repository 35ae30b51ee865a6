// Manage (managers and admins): the screens that run the shop rather than
// answer customers, one card each; on a phone this is where they live
// (the bottom bar has room for five).
import { t } from "../i18n.js";
import { h, mount } from "../dom.js";
import { screens } from "../app.js";

export function render(ctx) {
  const mine = screens.filter((s) => s.parent === "manage" && ctx.can(...s.roles));
  mount(ctx.el, h("h1", { class: "screen-title" }, t("nav.manage")),
    h("ul", { class: "plain hub" }, mine.map((s) => h("li", {},
      h("a", { class: "card hub-item", href: "#/" + s.id, dataset: { screen: s.id } },
        h("span", { class: "hub-icon", "aria-hidden": "true" }, s.icon),
        h("span", {}, h("strong", {}, t(s.title)), h("span", { class: "muted small" }, t(s.title + "Hint"))))))));
}
