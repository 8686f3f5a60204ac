// Dashboard: queue and throughput charts, states per partner and alerts; refreshed every 5 s.

import { get } from "../api.js";
import { lineChart } from "../charts.js";
import { clear, h } from "../dom.js";
import { fmtDate, fmtDateTime, fmtNumber, t, tOr } from "../i18n.js";
import { badge, section, table } from "../widgets.js";

function card(testid, label, value, tone, href) {
  const body = [h("span", { class: "card-label" }, label), h("span", { class: "card-value", testid: `${testid}-value` }, fmtNumber(value))];
  return href
    ? h("a", { class: ["card", `tone-${tone}`], href, testid }, body)
    : h("div", { class: ["card", `tone-${tone}`], testid }, body);
}

function alertText(alert) {
  if (alert.kind === "certificate") {
    const days = Math.floor((Date.parse(alert.not_after) - Date.now()) / 86_400_000);
    if (alert.severity === "critical") {
      const who = alert.subject === "own" ? t("alert.own") : alert.subject;
      return t("alert.certificate.expired", { who, date: fmtDate(alert.not_after) });
    }
    const params = { peer: alert.subject, date: fmtDate(alert.not_after), days };
    return t(alert.subject === "own" ? "alert.certificate.own" : "alert.certificate.peer", params);
  }
  if (alert.kind === "unreachable") {
    const since = alert.since ? ` (${t("alert.unreachable.since", { time: fmtDateTime(alert.since) })})` : "";
    return t("alert.unreachable", { peer: alert.subject, error: alert.text }) + since;
  }
  if (alert.kind === "dead_letters") return t("alert.dead", { count: alert.count });
  return alert.text;
}

function alerts(list) {
  if (list.length === 0) return h("p", { class: "muted", testid: "alerts-empty" }, t("dash.no_alerts"));
  return h("ul", { class: "alerts", testid: "alerts" }, list.map((alert) =>
    h("li", { class: ["alert", `severity-${alert.severity}`], testid: "alert", "data-kind": alert.kind },
      badge(tOr(`severity.${alert.severity}`, alert.severity), alert.severity === "critical" ? "bad" : "warn"),
      h("span", { class: "alert-text" }, alertText(alert)),
      alert.kind === "dead_letters" ? h("a", { href: "#/dead", class: "alert-link" }, t("alert.dead.link")) : null)));
}

function partnerStates(partners) {
  const rows = partners.map((p) => ({
    attrs: { testid: "partner-row", "data-partner": p.id },
    cells: [
      h("span", {}, h("strong", {}, p.id), h("br"), h("span", { class: "muted" }, p.name)),
      p.unreachable ? badge(t("unreachable"), "bad") : badge(t("reachable"), "ok"),
      h("div", { class: "state-counts" }, Object.entries(p.recent_states).sort().map(([key, count]) => {
        const [direction, state] = key.split(":");
        return h("span", { class: ["badge", `state-${state}`], testid: "state-count", "data-key": key },
          `${t(`dirshort.${direction}`)} · ${tOr(`state.${state}`, state)}: ${count}`);
      })),
    ],
  }));
  return table("partner-states", [t("col.partner"), t("col.status"), t("col.states")], rows, t("dash.by_partner"));
}

export async function dashboard(ctx) {
  const stamp = h("span", { class: "stamp", testid: "refreshed" });
  const body = h("div", { class: "dashboard" });
  ctx.view.append(h("div", { testid: "page-dashboard" },
    h("header", { class: "page-head" }, h("h1", {}, t("dash.title")), h("p", { class: "muted" }, stamp, " · ", t("auto"))),
    body));

  const draw = async () => {
    const o = await get("/overview");
    if (!ctx.alive()) return;
    const up = o.partners.filter((p) => !p.unreachable).length;
    clear(body).append(
      h("div", { class: "cards" },
        card("card-queue", t("dash.queue"), o.queue_depth, "info"),
        card("card-waiting", t("dash.waiting"), o.waiting_handoff, "info"),
        card("card-dead", t("dash.dead"), o.dead_letters, o.dead_letters ? "warn" : "ok", "#/dead"),
        h("div", { class: ["card", up === o.partners.length ? "tone-ok" : "tone-bad"], testid: "card-partners" },
          h("span", { class: "card-label" }, t("dash.partners_up")),
          h("span", { class: "card-value" }, `${up} / ${o.partners.length}`))),
      h("div", { class: "charts" },
        lineChart("chart-queue", t("dash.chart.queue"), o.series, [
          { key: "queued", label: t("series.queued") },
          { key: "waiting_handoff", label: t("series.waiting_handoff") },
          { key: "dead", label: t("series.dead") },
        ]),
        lineChart("chart-throughput", t("dash.chart.throughput"), o.series, [
          { key: "delivered_per_minute", label: t("series.delivered_per_minute") },
          { key: "received_per_minute", label: t("series.received_per_minute") },
        ])),
      h("div", { class: "columns" },
        section(t("dash.alerts"), alerts(o.alerts)),
        section(t("dash.by_partner"), partnerStates(o.partners))));
    stamp.textContent = t("refreshed", { time: fmtDateTime(o.time) });
  };
  await draw();
  ctx.every(5000, draw);
}
