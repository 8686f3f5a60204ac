// Resend and cancel: each asks for confirmation in the page, then calls the API (which writes
// the audit record). A refusal (409: not allowed in this state) is shown as the API words it.

import { post } from "../api.js";
import { h } from "../dom.js";
import { t } from "../i18n.js";
import { confirmDialog, errorText, notify } from "../widgets.js";

const PATHS = { resend: "retry", cancel: "cancel" };

/** The buttons a message allows: resend for a dead letter, cancel for a queued outgoing one. */
export function actionButtons(message, onDone) {
  const buttons = [];
  if (message.dead) buttons.push(button("resend", message, onDone));
  if (message.direction === "out" && message.state === "queued") buttons.push(button("cancel", message, onDone));
  return buttons;
}

function button(action, message, onDone) {
  const number = message.registration_number || message.message_id;
  const b = h("button", {
    type: "button", class: ["button", action === "cancel" ? "danger" : "primary", "small"],
    testid: `action-${action}`, "data-id": message.message_id,
  }, t(`action.${action}`));
  b.addEventListener("click", async () => {
    const ok = await confirmDialog(t(`confirm.${action}.title`), t(`confirm.${action}.text`, { number, peer: message.peer }));
    if (!ok) return;
    b.disabled = true;
    try {
      const updated = await post(`/messages/${encodeURIComponent(message.message_id)}/${PATHS[action]}`);
      notify(t(`done.${action}`, { number }), "ok");
      onDone(updated);
    } catch (error) {
      if (error.status !== 401) notify(t("action.failed", { error: errorText(error) }), "error");
      b.disabled = false;
    }
  });
  return b;
}
