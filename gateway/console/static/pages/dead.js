// Dead letters (rejected, expired, cancelled outgoing messages) with Resend and Cancel. A row
// acted on stays in the list with its new state, followed until it settles.

import { get } from "../api.js";
import { clear, h } from "../dom.js";
import { t } from "../i18n.js";
import { table } from "../widgets.js";
import { actionButtons } from "./actions.js";
import { messageHeaders, messageRows } from "./messages.js";

const COLUMNS = ["number", "peer", "type", "state", "updated", "attempts"];

// Kept across visits within the tab: what this operator resent or cancelled.
const touched = new Map();

export async function dead(ctx) {
  const body = h("div", { class: "panel" });
  ctx.view.append(h("div", { testid: "page-dead" },
    h("header", { class: "page-head" }, h("h1", {}, t("dead.title"))),
    h("p", { class: "intro" }, t("dead.intro")),
    body));

  const draw = async () => {
    const found = (await get("/messages?dead=1&limit=200")).messages;
    const ids = new Set(found.map((m) => m.message_id));
    const followed = await Promise.all([...touched.keys()].filter((id) => !ids.has(id))
      .map((id) => get(`/messages/${encodeURIComponent(id)}`).catch(() => null)));
    if (!ctx.alive()) return;
    const list = [...found, ...followed.filter(Boolean)];
    clear(body);
    if (list.length === 0) {
      body.append(h("p", { class: "muted", testid: "dead-empty" }, t("dead.none")));
      return;
    }
    const headers = [...messageHeaders(COLUMNS), t("col.error"), t("col.actions")];
    body.append(table("dead-table", headers, messageRows(list, COLUMNS, (m) => [
      m.error_message ? h("span", { class: ["error-text", "clamp"], title: m.error_message }, m.error_message) : t("none"),
      h("div", { class: "row-actions" }, actionButtons(m, (updated) => {
        touched.set(updated.message_id, true);
        draw();
      })),
    ]), t("dead.title")));
  };
  await draw();
  ctx.every(3000, draw);
}
