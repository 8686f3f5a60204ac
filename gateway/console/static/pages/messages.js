// Message search: the form lives in the URL hash (#/messages?q=…), so a search can be
// bookmarked and the back button works; results page with the API's `next` cursor.

import { get } from "../api.js";
import { h } from "../dom.js";
import { STATES, fmtShort, t, tOr } from "../i18n.js";
import { stateBadge, table } from "../widgets.js";

const FIELDS = ["q", "partner", "direction", "state", "from", "to"];

function localMidnight(date, plusDays = 0) {
  const [y, m, d] = date.split("-").map(Number);
  return new Date(y, m - 1, d + plusDays).toISOString();
}

/** The API query for the form's values; the "to" date is inclusive for the operator. */
export function apiQuery(params) {
  const query = new URLSearchParams();
  // `limit` is not on the form; a bookmarked #/messages?limit=… keeps its page size
  for (const name of ["q", "partner", "direction", "state", "before", "limit"]) {
    if (params.get(name)) query.set(name, params.get(name));
  }
  if (params.get("from")) query.set("since", localMidnight(params.get("from")));
  if (params.get("to")) query.set("until", localMidnight(params.get("to"), 1));
  return query;
}

function select(name, label, options, value) {
  return h("label", { class: "field" }, h("span", {}, label),
    h("select", { name, testid: `search-${name}` }, options.map(([v, text]) =>
      h("option", { value: v, selected: v === value }, text))));
}

function input(name, label, type, value, extra = {}) {
  return h("label", { class: "field" }, h("span", {}, label),
    h("input", { name, type, value: value || "", testid: `search-${name}`, ...extra }));
}

const COLUMNS = {
  number: ["col.number", (m) => h("a", { href: `#/message/${encodeURIComponent(m.message_id)}`, testid: "message-link", class: "number" },
    m.registration_number || m.message_id.slice(0, 12))],
  direction: ["col.direction", (m) => tOr(`direction.${m.direction}`, m.direction)],
  peer: ["col.partner", (m) => m.peer],
  type: ["col.type", (m) => tOr(`type.${m.type}`, m.type)],
  state: ["col.state", (m) => stateBadge(m.state)],
  created: ["col.created", (m) => h("span", { class: "when" }, fmtShort(m.created_at))],
  updated: ["col.updated", (m) => h("span", { class: "when" }, fmtShort(m.updated_at))],
  attempts: ["col.attempts", (m) => h("span", { class: "num" }, String(m.attempts))],
};
export const ALL_COLUMNS = Object.keys(COLUMNS);

export function messageHeaders(columns = ALL_COLUMNS) {
  return columns.map((c) => t(COLUMNS[c][0]));
}

/** Rows of a message table; `extraCells(m)` adds cells at the end (actions). */
export function messageRows(messages, columns = ALL_COLUMNS, extraCells = null) {
  return messages.map((m) => ({
    attrs: { testid: "message-row", "data-id": m.message_id, "data-state": m.state },
    cells: [...columns.map((c) => COLUMNS[c][1](m)), ...(extraCells ? extraCells(m) : [])],
  }));
}

export async function messages(ctx) {
  const p = ctx.params;
  const partners = (await get("/partners")).partners;
  const form = h("form", { class: "search", testid: "search-form", role: "search" },
    input("q", t("search.q"), "search", p.get("q"), { placeholder: t("search.q.placeholder"), class: "wide" }),
    select("partner", t("search.partner"), [["", t("search.any")], ...partners.map((x) => [x.id, `${x.id} — ${x.name}`])], p.get("partner") || ""),
    select("direction", t("search.direction"), [["", t("search.any")], ...["out", "in", "local"].map((d) => [d, t(`direction.${d}`)])], p.get("direction") || ""),
    select("state", t("search.state"), [["", t("search.any_state")], ...STATES.map((s) => [s, t(`state.${s}`)])], p.get("state") || ""),
    input("from", t("search.from"), "date", p.get("from")),
    input("to", t("search.to"), "date", p.get("to")),
    h("div", { class: "form-buttons" },
      h("button", { type: "submit", class: "button primary", testid: "search-submit" }, t("search.submit")),
      h("a", { href: "#/messages", class: "button", testid: "search-reset" }, t("search.reset"))));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    const data = new FormData(form);
    for (const name of FIELDS) {
      const value = String(data.get(name) || "").trim();
      if (value) next.set(name, value);
    }
    ctx.go(`#/messages${next.size ? `?${next}` : ""}`);
  });

  const found = await get(`/messages?${apiQuery(p)}`);
  if (!ctx.alive()) return;
  const results = h("section", { class: "panel", testid: "search-results" });
  if (found.messages.length === 0) {
    results.append(h("p", { class: "muted", testid: "search-empty" }, t("search.none")));
  } else {
    results.append(
      h("p", { class: "muted" }, t("search.count", { count: found.messages.length })),
      table("messages-table", messageHeaders(), messageRows(found.messages), t("search.title")));
  }
  const pager = h("nav", { class: "pager" });
  if (p.get("before")) {
    const first = new URLSearchParams(p);
    first.delete("before");
    pager.append(h("a", { class: "button", href: `#/messages?${first}`, testid: "page-first" }, t("search.first")));
  }
  if (found.next) {
    const next = new URLSearchParams(p);
    next.set("before", found.next);
    pager.append(h("a", { class: "button", href: `#/messages?${next}`, testid: "page-next" }, t("search.next")));
  }
  results.append(pager);
  ctx.view.append(h("div", { testid: "page-messages" },
    h("header", { class: "page-head" }, h("h1", {}, t("search.title"))),
    h("section", { class: "panel" }, form),
    results));
}
