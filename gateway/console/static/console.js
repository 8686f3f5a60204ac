// The operator console: login, the shell (header, navigation, language switch) and the hash
// router (#/dashboard, #/messages?…, #/message/<id>, #/dead, #/partners, #/adapters).
// Everything shown comes from the operator API (api.js); nothing here ever shows the token.

import { accepts, forget, get, setToken, token } from "./api.js";
import { clear, h } from "./dom.js";
import { LANGUAGES, lang, setLang, t } from "./i18n.js";
import { adapters } from "./pages/adapters.js";
import { dashboard } from "./pages/dashboard.js";
import { dead } from "./pages/dead.js";
import { message } from "./pages/message.js";
import { messages } from "./pages/messages.js";
import { partners } from "./pages/partners.js";
import { clearNotices, errorText, mountNotices, notify } from "./widgets.js";

const PAGES = { dashboard, messages, message, dead, partners, adapters };
const NAV = ["dashboard", "messages", "dead", "partners", "adapters"];

const app = document.getElementById("app");
let me = null; // whoami: operator name and participant, once logged in
let generation = 0; // bumped on every navigation: stale pages stop updating
let timers = [];

function stopTimers() {
  timers.forEach(clearInterval);
  timers = [];
}

function languageSwitch(onChange) {
  return h("div", { class: "lang", role: "group", "aria-label": t("lang.label"), testid: "lang-switch" },
    LANGUAGES.map((code) => {
      const b = h("button", { type: "button", class: "lang-button", "aria-pressed": String(code === lang()), testid: `lang-${code}` }, code.toUpperCase());
      b.addEventListener("click", () => {
        if (code === lang()) return;
        setLang(code);
        document.title = t("app.short");
        onChange();
      });
      return b;
    }));
}

function brand() {
  return h("div", { class: "brand" },
    h("span", { class: "emblem", "aria-hidden": "true" }, "⇄"),
    h("div", {},
      h("div", { class: "brand-title" }, t("app.title")),
      me ? h("div", { class: "brand-sub", testid: "participant" }, `${me.participant} · ${me.name}`) : null));
}

// ---- login ---------------------------------------------------------------------------------

function showLogin(message) {
  stopTimers();
  generation += 1;
  me = null;
  document.title = t("app.short");
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "off", spellcheck: "false", required: true, testid: "login-token" });
  const error = h("p", { class: "login-error", role: "alert", testid: "login-error" }, message || "");
  error.hidden = !message;
  const submit = h("button", { type: "submit", class: "button primary", testid: "login-submit" }, t("login.submit"));
  const form = h("form", { class: "login-card", testid: "login-form" },
    h("div", { class: "login-top" }, brand(), languageSwitch(() => showLogin(error.hidden ? "" : error.textContent))),
    h("h1", {}, t("login.title")),
    h("p", { class: "muted" }, t("login.intro")),
    h("label", { for: "token" }, t("login.token")),
    input, error, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const candidate = input.value.trim();
    const fail = (text) => {
      error.textContent = text;
      error.hidden = false;
      input.value = "";
      input.focus();
    };
    if (!candidate) return fail(t("login.empty"));
    submit.disabled = true;
    try {
      const who = await accepts(candidate);
      if (!who) return fail(t("login.refused"));
      setToken(candidate);
      me = who;
      if (!location.hash || location.hash === "#/" || location.hash === "#") location.hash = "#/dashboard";
      showShell();
    } catch (e) {
      fail(t("login.unreachable", { error: errorText(e) }));
    } finally {
      submit.disabled = false;
    }
  });
  clear(app).append(h("main", { class: "login", testid: "page-login" }, form));
  input.focus();
}

// ---- shell and router ------------------------------------------------------------------------

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/dashboard";
  const [path, query = ""] = raw.split("?");
  const parts = path.split("/").filter(Boolean);
  return { name: parts[0] || "dashboard", id: parts[1] ? decodeURIComponent(parts[1]) : null, params: new URLSearchParams(query) };
}

function showShell() {
  document.title = t("app.short");
  const logout = h("button", { type: "button", class: "button ghost", testid: "logout" }, t("logout"));
  logout.addEventListener("click", () => {
    forget();
    history.replaceState(null, "", "#/dashboard");
    showLogin();
  });
  const nav = h("nav", { class: "sidebar", "aria-label": t("nav.label") },
    h("ul", {}, NAV.map((name) => h("li", {}, h("a", { href: `#/${name}`, testid: `nav-${name}`, "data-page": name }, t(`nav.${name}`))))));
  const notices = h("div", { class: "notices", "aria-live": "polite" });
  mountNotices(notices);
  clear(app).append(
    h("header", { class: "topbar" }, brand(),
      h("div", { class: "tools" },
        h("span", { class: "operator", testid: "operator" }, t("operator", { name: me.operator })),
        languageSwitch(showShell), logout)),
    h("div", { class: "layout" }, nav, h("main", { id: "main", class: "main" }, notices, h("div", { id: "view" }))));
  route();
}

async function route() {
  stopTimers();
  const mine = (generation += 1);
  const { name, id, params } = parseHash();
  const active = name === "message" ? "messages" : name;
  for (const link of app.querySelectorAll(".sidebar a")) {
    if (link.dataset.page === active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const view = document.getElementById("view");
  if (!view) return;
  const page = PAGES[name];
  const fresh = h("div", { class: "page" });
  const ctx = {
    view: fresh, id, params,
    alive: () => mine === generation,
    go: (hash) => { if (location.hash === hash) route(); else location.hash = hash; },
    reload: () => { if (mine === generation) route(); },
    every(ms, fn) {
      let busy = false;
      timers.push(setInterval(async () => {
        if (busy || mine !== generation) return;
        busy = true;
        try {
          await fn();
        } catch (error) {
          if (error.status !== 401 && mine === generation) notify(t("error.load", { error: errorText(error) }), "error");
        } finally {
          busy = false;
        }
      }, ms));
    },
  };
  if (!view.firstChild) view.append(h("p", { class: "muted" }, t("loading")));
  try {
    if (!page) throw new Error(t("not_found"));
    await page(ctx);
  } catch (error) {
    if (error.status === 401 || mine !== generation) return;
    fresh.append(h("div", { class: "panel error-panel", role: "alert", testid: "page-error" }, t("error.load", { error: errorText(error) })));
  }
  if (mine !== generation) return;
  // Built off-screen and swapped in whole: a refresh does not flicker.
  view.replaceWith(Object.assign(fresh, { id: "view" }));
}

window.addEventListener("hashchange", () => {
  if (me) {
    clearNotices();
    route();
  }
});

window.addEventListener("gateway:unauthorized", () => {
  forget();
  if (me || app.querySelector("[data-testid=page-login]") === null) showLogin(t("login.expired"));
});

async function start() {
  setLang(lang());
  if (!token()) return showLogin();
  try {
    me = await get("/whoami");
    showShell();
  } catch (error) {
    if (error.status !== 401) showLogin(t("login.unreachable", { error: errorText(error) }));
  }
}

start();
