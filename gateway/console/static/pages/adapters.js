// Adapters: what each took, refused and exported, and its last error.

import { get } from "../api.js";
import { h } from "../dom.js";
import { fmtShort, t } from "../i18n.js";
import { badge, table } from "../widgets.js";

function status(a) {
  const failing = a.last_error_at && (!a.last_ok || Date.parse(a.last_error_at) > Date.parse(a.last_ok));
  if (failing) return badge(t("adapters.failing"), "bad", "adapter-status");
  if (a.last_ok) return badge(t("adapters.ok"), "ok", "adapter-status");
  return badge(t("adapters.idle"), "neutral", "adapter-status");
}

export async function adapters(ctx) {
  const list = (await get("/adapters")).adapters;
  if (!ctx.alive()) return;
  const body = list.length === 0
    ? h("p", { class: "muted", testid: "adapters-empty" }, t("adapters.none"))
    : table("adapters-table",
      [t("col.adapter"), t("col.status"), t("col.taken"), t("col.refused"),
        t("col.exported"), t("col.failures"), t("col.last_ok"), t("col.error")],
      list.map((a) => ({
        attrs: { testid: "adapter-row", "data-adapter": a.id },
        cells: [
          h("div", { class: "stack" },
            h("span", {}, h("strong", {}, a.id), a.default ? [" ", badge(t("adapters.default"), "neutral")] : null),
            h("code", { class: "mono muted" }, a.adapter),
            h("span", { class: "muted small", testid: "adapter-capabilities" },
              `${t("col.capabilities")}: ${["intake", "export"].filter((c) => a.capabilities[c]).map((c) => t(`cap.${c}`)).join(", ") || t("none")}`)),
          status(a),
          h("span", { class: "num", testid: "adapter-taken" }, String(a.taken)),
          h("span", { class: "num" }, String(a.refused)),
          h("span", { class: "num", testid: "adapter-exported" }, String(a.exported)),
          h("span", { class: "num" }, String(a.failures)),
          h("span", { class: "when" }, a.last_ok ? fmtShort(a.last_ok) : t("never")),
          a.last_error
            ? h("span", { class: "error-text", testid: "adapter-error" }, a.last_error, h("br"), h("span", { class: "muted when" }, fmtShort(a.last_error_at)))
            : t("none"),
        ],
      })), t("adapters.title"));
  ctx.view.append(h("div", { testid: "page-adapters" },
    h("header", { class: "page-head" }, h("h1", {}, t("adapters.title"))),
    h("section", { class: "panel" }, body)));
  ctx.every(10000, () => ctx.reload());
}
