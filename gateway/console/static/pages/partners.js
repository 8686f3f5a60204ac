// Partners: endpoint, what they serve, certificates with validity, last successful contact.

import { get } from "../api.js";
import { h } from "../dom.js";
import { fmtDate, fmtDateTime, t } from "../i18n.js";
import { badge, fields, mono, table } from "../widgets.js";

function certificates(list) {
  return table("cert-table",
    [t("col.subject"), t("col.serial"), t("col.not_before"), t("col.not_after"), t("col.days_left"), t("col.status")],
    list.map((c) => {
      const status = c.expired ? "expired" : c.expiring ? "expiring" : "valid";
      return {
        attrs: { testid: "cert-row", class: `cert-${status}`, "data-status": status },
        cells: [c.subject, mono(c.serial),
          h("time", { datetime: c.not_before, testid: "cert-not-before", class: "when" }, fmtDate(c.not_before)),
          h("time", { datetime: c.not_after, testid: "cert-not-after", class: "when" }, fmtDate(c.not_after)),
          h("span", { class: "num", testid: "cert-days-left" }, String(c.days_left)),
          badge(t(`cert.${status}`), status === "valid" ? "ok" : status === "expiring" ? "warn" : "bad", "cert-status")],
      };
    }), t("partners.certificates"));
}

export async function partners(ctx) {
  const list = (await get("/partners")).partners;
  if (!ctx.alive()) return;
  const cards = list.map((p) => h("section", { class: ["panel", "partner", p.unreachable ? "is-down" : null], testid: "partner", "data-partner": p.id },
    h("header", { class: "partner-head" },
      h("h2", {}, h("span", { class: "partner-id" }, p.id), " ", p.name),
      p.unreachable ? badge(t("unreachable"), "bad", "partner-status") : badge(t("reachable"), "ok", "partner-status")),
    fields([
      [t("partners.endpoint"), mono(p.endpoint), "partner-endpoint"],
      [t("partners.profile"), p.profile],
      [t("partners.serves"), Object.entries(p.serves).map(([kind, ids]) => `${kind.toUpperCase()}: ${ids.join(", ")}`).join("; ")],
      [t("partners.last_contact"), p.last_contact ? fmtDateTime(p.last_contact) : t("never"), "partner-last-contact"],
      p.last_failure ? [t("partners.last_failure"), fmtDateTime(p.last_failure)] : null,
      p.last_error ? [t("partners.last_error"), h("span", { class: "error-text" }, p.last_error)] : null,
    ]),
    h("h3", {}, t("partners.certificates")),
    certificates(p.certificates)));
  ctx.view.append(h("div", { testid: "page-partners" },
    h("header", { class: "page-head" }, h("h1", {}, t("partners.title"))),
    cards.length ? cards : h("p", { class: "muted" }, t("partners.none"))));
  ctx.every(10000, () => ctx.reload());
}
