// Small pieces every page uses: state badges, tables, a definition list, notices and the
// in-page confirmation dialog (not window.confirm: it is styled, translated and clickable
// by the browser test).

import { clear, h } from "./dom.js";
import { t, tOr } from "./i18n.js";

export function stateBadge(state) {
  return h("span", { class: ["badge", `state-${state}`], testid: "state", "data-state": state },
    tOr(`state.${state}`, state));
}

export function badge(text, tone, testid) {
  return h("span", { class: ["badge", `tone-${tone}`], testid }, text);
}

/** rows: arrays of cells, or {cells, attrs} for a row with attributes. */
export function table(testid, headers, rows, caption) {
  return h("div", { class: "table-wrap" },
    h("table", { class: "grid-table", testid },
      caption ? h("caption", { class: "sr-only" }, caption) : null,
      h("thead", {}, h("tr", {}, headers.map((head) => h("th", { scope: "col" }, head)))),
      h("tbody", {}, rows.map((row) => {
        const { cells, attrs } = Array.isArray(row) ? { cells: row, attrs: {} } : row;
        return h("tr", attrs, cells.map((cell) => h("td", {}, cell)));
      }))));
}

export function fields(pairs, testid) {
  return h("dl", { class: "fields", testid }, pairs.filter(Boolean).map(([term, value, id]) => [
    h("dt", {}, term), h("dd", { testid: id }, value ?? t("none")),
  ]));
}

export function section(title, ...children) {
  return h("section", { class: "panel" }, h("h2", {}, title), children);
}

export function mono(text) {
  return h("code", { class: "mono" }, text);
}

let noticeArea = null;

export function mountNotices(area) {
  noticeArea = area;
}

/** kind: "ok" (goes away by itself) or "error" (stays until closed or replaced). */
export function notify(text, kind = "ok") {
  if (!noticeArea) return;
  clear(noticeArea);
  const close = h("button", { type: "button", class: "link-button", "aria-label": t("close") }, "×");
  const notice = h("div", { class: ["notice", `notice-${kind}`], role: kind === "error" ? "alert" : "status", testid: "notice", "data-kind": kind },
    h("span", {}, text), close);
  close.addEventListener("click", () => notice.remove());
  noticeArea.append(notice);
  if (kind === "ok") setTimeout(() => notice.remove(), 8000);
}

export function clearNotices() {
  if (noticeArea) clear(noticeArea);
}

/** Resolves true when the operator confirms, false when they decline or press Escape. */
export function confirmDialog(title, text) {
  return new Promise((resolve) => {
    const yes = h("button", { type: "button", class: "button primary", testid: "confirm-yes" }, t("confirm.yes"));
    const no = h("button", { type: "button", class: "button", testid: "confirm-no" }, t("confirm.no"));
    const dialog = h("dialog", { class: "dialog", testid: "confirm-dialog", "aria-labelledby": "confirm-title" },
      h("h2", { id: "confirm-title" }, title), h("p", {}, text), h("div", { class: "dialog-buttons" }, no, yes));
    const finish = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    yes.addEventListener("click", () => finish(true));
    no.addEventListener("click", () => finish(false));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      finish(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    no.focus();
  });
}

export function errorText(error) {
  return error && error.message ? error.message : String(error);
}
