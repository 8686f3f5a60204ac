// One message: summary, content, one timeline (accepted, each attempt with its error, receipt,
// hand-off, notifications about the same document), files with digests, downloads.

import { download, get } from "../api.js";
import { clear, h } from "../dom.js";
import { fmtDate, fmtDateTime, fmtSize, t, tOr } from "../i18n.js";
import { badge, errorText, fields, mono, notify, section, stateBadge, table } from "../widgets.js";
import { actionButtons } from "./actions.js";

function event(e, direction) {
  let title;
  const extra = [];
  switch (e.kind) {
    case "accepted":
      title = tOr(`tl.accepted.${direction}`, t("tl.accepted.local"));
      break;
    case "attempt":
      title = t("tl.attempt", { outcome: tOr(`outcome.${e.outcome}`, e.outcome) });
      if (e.http_status) extra.push(`HTTP ${e.http_status}`);
      if (e.error) extra.push(h("span", { class: "error-text", testid: "attempt-error" }, e.error));
      break;
    case "receipt":
      title = t("tl.receipt");
      break;
    case "handoff":
      title = t("tl.handoff");
      if (e.detail) extra.push(e.detail);
      break;
    case "related":
      title = t("tl.related", { what: tOr(`notification.${e.detail}`, e.detail) });
      if (e.registration_number) extra.push(t("tl.related.number", { number: e.registration_number }));
      if (e.reason) extra.push(`${t("message.reason")}: ${e.reason}`);
      extra.push(h("a", { href: `#/message/${encodeURIComponent(e.message_id)}` }, t("tl.related.open")));
      break;
    default:
      title = t("tl.state", { state: tOr(`state.${e.state}`, e.state) });
      if (e.detail) extra.push(e.detail);
  }
  const tone = e.kind === "attempt" ? (e.outcome === "delivered" ? "ok" : e.outcome === "retry" ? "warn" : "bad")
    : e.kind === "receipt" || e.kind === "handoff" ? "ok" : e.kind === "related" ? "info" : "neutral";
  return h("li", { class: ["event", `tone-${tone}`], testid: "timeline-event", "data-kind": e.kind },
    h("span", { class: "event-dot", "aria-hidden": "true" }),
    h("div", { class: "event-body" },
      h("time", { datetime: e.at }, fmtDateTime(e.at)),
      h("strong", { class: "event-title" }, title),
      extra.length ? h("div", { class: "event-detail" }, extra.flatMap((x, i) => (i ? [" · ", x] : [x]))) : null));
}

// Within one instant an attempt comes before the receipt it brought.
const RANK = { accepted: 0, attempt: 1, state: 2, receipt: 2, handoff: 3, related: 4 };

function ordered(timeline) {
  return timeline.map((e, i) => ({ e, i, at: Date.parse(e.at) }))
    .sort((x, y) => x.at - y.at || (RANK[x.e.kind] ?? 2) - (RANK[y.e.kind] ?? 2) || x.i - y.i)
    .map((x) => x.e);
}

function payloadFields(payload) {
  if (!payload) return [];
  if (payload.kind === "document") {
    return [
      [t("message.kind"), payload.document_kind],
      [t("message.registration"), payload.registration_number
        ? t("message.registration.value", { number: payload.registration_number, date: fmtDate(payload.registration_date) }) : null],
      payload.title ? [t("message.title_field"), payload.title] : null,
      [t("message.annotation"), payload.annotation],
      [t("message.sender"), payload.sender],
      [t("message.addressees"), payload.addressees.join("; ")],
    ];
  }
  return [
    [t("message.notification"), tOr(`notification.${payload.notification_kind}`, payload.notification_kind)],
    payload.registration_number ? [t("col.number"), payload.registration_number] : null,
    payload.reason ? [t("message.reason"), payload.reason] : null,
    payload.comment ? [t("message.annotation"), payload.comment] : null,
  ];
}

function files(list) {
  if (list.length === 0) return h("p", { class: "muted" }, t("message.no_files"));
  return table("files-table", [t("col.file"), t("col.role"), t("col.media"), t("col.size"), t("col.sha256")],
    list.map((f) => ({
      attrs: { testid: "file-row", "data-name": f.name },
      cells: [f.name, f.role ? tOr(`role.${f.role}`, f.role) : t("none"), f.media_type || t("none"),
        h("span", { class: "num", testid: "file-size", "data-bytes": String(f.size) }, fmtSize(f.size)),
        h("code", { class: "mono digest", testid: "file-sha256" }, f.sha256)],
    })), t("message.files"));
}

// The officials' own signatures, checked on request (the gateway never re-signs them).
function signatureCheck(base) {
  const out = h("div", { class: "signatures", testid: "signatures" });
  const button = h("button", { type: "button", class: "button", testid: "check-signatures" }, t("sig.check"));
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const found = (await get(`${base}/signatures`)).signatures;
      clear(out).append(found.length === 0 ? h("p", { class: "muted" }, t("sig.none"))
        : table("signatures-table", [t("sig.file"), t("sig.signs"), t("sig.result"), t("sig.signer"), t("sig.time")],
          found.map((s) => ({
            attrs: { testid: "signature-row", "data-file": s.name, "data-valid": String(s.valid) },
            cells: [s.name, s.signs_name,
              s.valid ? badge(t("sig.valid"), "ok", "signature-valid")
                : h("span", {}, badge(t("sig.invalid"), "bad", "signature-invalid"), " ",
                  h("span", { class: "error-text" }, s.reason || "")),
              s.signer || t("none"), s.signing_time ? fmtDateTime(s.signing_time) : t("none")],
          }))));
    } catch (error) {
      if (error.status !== 401) notify(t("error.load", { error: errorText(error) }), "error");
    } finally {
      button.disabled = false;
    }
  });
  return h("div", {}, h("p", { class: "muted" }, t("sig.intro")), button, out);
}

export async function message(ctx) {
  const id = ctx.id;
  const root = h("div", { testid: "page-message", "data-id": id });
  ctx.view.append(root);
  const draw = async () => {
    const m = await get(`/messages/${encodeURIComponent(id)}`);
    if (!ctx.alive()) return;
    const save = (path, name) => async () => {
      try {
        await download(path, name);
        notify(t("message.downloaded", { name }), "ok");
      } catch (error) {
        if (error.status !== 401) notify(t("error.load", { error: errorText(error) }), "error");
      }
    };
    const base = `/messages/${encodeURIComponent(m.message_id)}`;
    const envelope = h("button", { type: "button", class: "button", testid: "download-envelope" }, t("message.download.envelope"));
    envelope.addEventListener("click", save(`${base}/envelope`, `${m.message_id}.xml`));
    let receipt = h("span", { class: "muted", testid: "no-receipt" }, t("message.no_receipt"));
    if (m.has_receipt) {
      receipt = h("button", { type: "button", class: "button", testid: "download-receipt" }, t("message.download.receipt"));
      receipt.addEventListener("click", save(`${base}/receipt`, `${m.message_id}.receipt.xml`));
    }
    const number = m.registration_number;
    clear(root).append(
      h("p", {}, h("a", { href: "#/messages", class: "back" }, t("message.back"))),
      h("header", { class: "page-head" },
        h("h1", { testid: "message-title" }, number ? t("message.title", { number }) : t("message.untitled")),
        h("div", { class: "head-side" }, stateBadge(m.state), actionButtons(m, () => draw()))),
      h("div", { class: "columns" },
        section(t("message.summary"), fields([
          [t("message.id"), mono(m.message_id), "message-id"],
          [t("col.direction"), tOr(`direction.${m.direction}`, m.direction)],
          [t("col.partner"), m.peer],
          [t("col.type"), tOr(`type.${m.type}`, m.type)],
          [t("message.document_uid"), m.document_uid ? mono(m.document_uid) : null],
          m.correlation_id ? [t("message.correlation"), mono(m.correlation_id)] : null,
          [t("col.created"), fmtDateTime(m.created_at)],
          [t("col.updated"), fmtDateTime(m.updated_at)],
          [t("col.attempts"), String(m.attempts)],
          m.next_attempt_at && m.state === "queued" ? [t("message.next_attempt"), fmtDateTime(m.next_attempt_at)] : null,
          m.expires_at ? [t("message.expires"), fmtDateTime(m.expires_at)] : null,
          m.error_message ? [t("col.error"), h("span", { class: "error-text" }, `${m.error_code}: ${m.error_message}`)] : null,
          [t("message.envelope"), h("span", {}, fmtSize(m.envelope_size), " · SHA-256 ", mono(m.envelope_sha256))],
        ], "message-fields"),
        h("div", { class: "downloads" }, h("h3", {}, t("message.downloads")), envelope, receipt)),
        section(t("message.timeline"), h("ol", { class: "timeline", testid: "timeline" },
          ordered(m.timeline).map((e) => event(e, m.direction))))),
      payloadFields(m.payload).length ? section(m.payload.kind === "document" ? m.payload.document_kind || t("type.document") : t("type.notification"),
        fields(payloadFields(m.payload), "payload-fields")) : null,
      section(t("message.files"), files(m.files)),
      m.files.some((f) => f.signature_of) ? section(t("sig.title"), signatureCheck(base)) : null);
  };
  await draw();
  // A message still on its way changes by itself: follow it.
  ctx.every(5000, async () => {
    const state = root.querySelector("[data-testid=state]")?.dataset.state;
    if (state === "queued" || state === "accepted") await draw();
  });
}
