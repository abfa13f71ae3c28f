// The Dialect desk: the agent desktop and the supervisor's wallboard.
// Plain JavaScript, no build step: what is served is this file. Views are
// read from the agent API when the live event socket says something changed;
// nothing polls the server.
import { BrowserPhone } from "./phone.js";

const T = {
  en: {
    skip: "Skip to content",
    "login.title": "Log in to the desk", "login.name": "Agent name", "login.password": "Password", "login.submit": "Log in",
    "login.failed": "Unknown agent or wrong password.",
    "state.label": "State", logout: "Log out",
    "tab.desk": "Desk", "tab.callbacks": "Callbacks", "tab.chats": "Chats", "tab.wallboard": "Wallboard",
    "offer.title": "Incoming call", "offer.accept": "Accept", "offer.decline": "Decline",
    "f.caller": "Caller", "f.campaign": "Campaign", "f.queue": "Queue", "f.waited": "Waited", "f.talking": "Talking",
    "f.recording": "Recording", "f.significant": "Customer",
    "tasks.title": "Tasks", "tasks.none": "Nothing to do.", "tasks.call": "Call with", "tasks.wrapup": "Wrap up call",
    "tasks.offer": "Offered call from", "tasks.chat": "Chat with", "tasks.callback": "Callback to",
    "call.title": "Call", "call.hold": "Hold", "call.resume": "Resume", "call.hangup": "Hang up",
    "call.recpause": "Pause recording", "call.recresume": "Resume recording",
    "call.target": "Transfer to (queue, agent, entry point or number)", "call.transfer": "Transfer",
    "call.data": "Call data", "call.record": "Customer record", "call.held": "on hold",
    "call.consulttarget": "Consult (agent, queue or number)", "call.consult": "Consult", "call.consulting": "Consulting",
    "call.attended": "Transfer to them", "call.conference": "Conference", "call.back": "Back to the caller",
    "call.ringing": "ringing", "call.answered": "answered",
    "call.conflict": "Someone else changed this value; it now reads:",
    "wrapup.title": "Wrap-up", "wrapup.classifier": "Result", "wrapup.submit": "Finish wrap-up", "wrapup.extra": "More time",
    "wrapup.required": "This field is required.", "wrapup.left": "Wrap-up time left:", "wrapup.done": "Wrap-up saved.",
    "cb.new": "New callback", "cb.kind": "Kind", "cb.scheduled": "Scheduled (anyone of the queue)", "cb.personal": "Personal (me)",
    "cb.number": "Number", "cb.name": "Customer name", "cb.start": "When", "cb.zone": "Time zone", "cb.reason": "Reason",
    "cb.save": "Save callback", "cb.clear": "Clear", "cb.list": "Callbacks", "cb.status": "Status", "cb.edit": "Change",
    "cb.cancel": "Cancel", "cb.saved": "Callback saved.", "cb.cancelled": "Callback cancelled.",
    "chats.title": "Chats", "chats.transcript": "Transcript", "chats.message": "Message", "chats.send": "Send", "chats.close": "Close chat",
    "wb.queues": "Queues", "wb.waiting": "Waiting", "wb.longest": "Longest wait", "wb.level": "Service level",
    "wb.answered": "Answered today", "wb.abandoned": "Abandoned today", "wb.agents": "Agents", "wb.agent": "Agent",
    "wb.since": "Time in state", "wb.alerts": "Alerts", "wb.noalerts": "No alerts.", "wb.chart": "Calls per 15 minutes today",
    "wb.notready": "Set not ready", "wb.logout": "Log out",
    "s.available": "Available", "s.idle": "Not ready", "s.ringing": "Ringing", "s.busy": "On a call",
    "s.wrap_up": "Wrap-up", "s.logged_out": "Logged out", "s.login": "Log in", "s.notready": "Not ready:",
    "phone.connected": "Browser phone ready", "phone.off": "Browser phone off", "phone.connecting": "Browser phone connecting",
    "error.session": "Your session is over: log in again.",
  },
  pl: {
    skip: "Przejdź do treści",
    "login.title": "Logowanie do pulpitu", "login.name": "Nazwa konsultanta", "login.password": "Hasło", "login.submit": "Zaloguj",
    "login.failed": "Nieznany konsultant lub złe hasło.",
    "state.label": "Status", logout: "Wyloguj",
    "tab.desk": "Pulpit", "tab.callbacks": "Oddzwonienia", "tab.chats": "Czaty", "tab.wallboard": "Tablica",
    "offer.title": "Połączenie przychodzące", "offer.accept": "Odbierz", "offer.decline": "Odrzuć",
    "f.caller": "Dzwoniący", "f.campaign": "Kampania", "f.queue": "Kolejka", "f.waited": "Czekał", "f.talking": "Rozmowa",
    "f.recording": "Nagrywanie", "f.significant": "Klient",
    "tasks.title": "Zadania", "tasks.none": "Brak zadań.", "tasks.call": "Rozmowa z", "tasks.wrapup": "Zakończ obsługę połączenia",
    "tasks.offer": "Oferowane połączenie od", "tasks.chat": "Czat z", "tasks.callback": "Oddzwonienie do",
    "call.title": "Połączenie", "call.hold": "Zawieś", "call.resume": "Wznów", "call.hangup": "Rozłącz",
    "call.recpause": "Wstrzymaj nagrywanie", "call.recresume": "Wznów nagrywanie",
    "call.target": "Przekaż do (kolejka, konsultant, punkt wejścia lub numer)", "call.transfer": "Przekaż",
    "call.data": "Dane połączenia", "call.record": "Rekord klienta", "call.held": "zawieszone",
    "call.consulttarget": "Konsultacja (konsultant, kolejka lub numer)", "call.consult": "Konsultuj", "call.consulting": "Konsultacja z",
    "call.attended": "Przekaż do nich", "call.conference": "Konferencja", "call.back": "Wróć do klienta",
    "call.ringing": "dzwoni", "call.answered": "odebrane",
    "call.conflict": "Ktoś inny zmienił tę wartość; teraz brzmi:",
    "wrapup.title": "Obsługa po rozmowie", "wrapup.classifier": "Wynik", "wrapup.submit": "Zakończ obsługę", "wrapup.extra": "Więcej czasu",
    "wrapup.required": "To pole jest wymagane.", "wrapup.left": "Pozostały czas:", "wrapup.done": "Zapisano.",
    "cb.new": "Nowe oddzwonienie", "cb.kind": "Rodzaj", "cb.scheduled": "Zaplanowane (dowolny konsultant kolejki)", "cb.personal": "Osobiste (ja)",
    "cb.number": "Numer", "cb.name": "Nazwa klienta", "cb.start": "Kiedy", "cb.zone": "Strefa czasowa", "cb.reason": "Powód",
    "cb.save": "Zapisz oddzwonienie", "cb.clear": "Wyczyść", "cb.list": "Oddzwonienia", "cb.status": "Stan", "cb.edit": "Zmień",
    "cb.cancel": "Anuluj", "cb.saved": "Zapisano oddzwonienie.", "cb.cancelled": "Anulowano oddzwonienie.",
    "chats.title": "Czaty", "chats.transcript": "Rozmowa", "chats.message": "Wiadomość", "chats.send": "Wyślij", "chats.close": "Zamknij czat",
    "wb.queues": "Kolejki", "wb.waiting": "Czekający", "wb.longest": "Najdłuższe czekanie", "wb.level": "Poziom obsługi",
    "wb.answered": "Odebrane dziś", "wb.abandoned": "Porzucone dziś", "wb.agents": "Konsultanci", "wb.agent": "Konsultant",
    "wb.since": "Czas w statusie", "wb.alerts": "Alarmy", "wb.noalerts": "Brak alarmów.", "wb.chart": "Połączenia na kwadrans dziś",
    "wb.notready": "Ustaw niegotowy", "wb.logout": "Wyloguj",
    "s.available": "Gotowy", "s.idle": "Niegotowy", "s.ringing": "Dzwoni", "s.busy": "W rozmowie",
    "s.wrap_up": "Obsługa po rozmowie", "s.logged_out": "Wylogowany", "s.login": "Zaloguj", "s.notready": "Niegotowy:",
    "phone.connected": "Telefon w przeglądarce gotowy", "phone.off": "Telefon w przeglądarce wyłączony", "phone.connecting": "Łączenie telefonu",
    "error.session": "Sesja wygasła: zaloguj się ponownie.",
  },
};

let lang = localStorage.getItem("dialect.lang") || ((navigator.language || "en").toLowerCase().startsWith("pl") ? "pl" : "en");
const t = (key) => (T[lang] && T[lang][key]) || T.en[key] || key;
const $ = (id) => document.getElementById(id);

function translate() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
}

const S = {
  me: null,
  csrf: null,
  view: null,
  viewAt: 0,
  callData: null,
  callbacks: [],
  wallboard: null,
  wallboardAt: 0,
  chats: new Map(),
  chatOpen: null,
  chatSocket: null,
  phone: null,
  refreshing: null,
  wbRefreshing: null,
};

// ---- the API ------------------------------------------------------------

async function api(method, path, body) {
  const headers = { "X-CSRF-Token": S.csrf || "" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  let json = null;
  try { json = await response.json(); } catch { json = null; }
  if (response.status === 401 && S.me) {
    showLogin(t("error.session"));
  }
  return { status: response.status, body: json || {} };
}

const me = (rest = "") => `/api/agents/${encodeURIComponent(S.me)}${rest}`;

function flash(text) { $("flash").textContent = text || ""; }

function duration(ms) {
  if (ms == null) return "";
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const two = (n) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${two(m)}:${two(r)}` : `${m}:${two(r)}`;
}

// ---- login ----------------------------------------------------------------

function showLogin(message) {
  S.me = null;
  S.csrf = null;
  if (S.phone) { S.phone.close(); S.phone = null; }
  $("app").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("login-name").focus();
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const name = $("login-name").value.trim();
  const password = $("login-password").value;
  const r = await fetch("/desk/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name, password }),
    credentials: "same-origin",
  });
  const body = await r.json().catch(() => ({}));
  if (r.status !== 200) {
    $("login-error").textContent = r.status === 401 ? t("login.failed") : (body.error || `HTTP ${r.status}`);
    $("login-password").setAttribute("aria-invalid", "true");
    return;
  }
  $("login-password").value = "";
  start(body.agent, body.csrf);
});

$("logout").addEventListener("click", async () => {
  await api("POST", "/desk/logout");
  showLogin("");
});

for (const b of document.querySelectorAll("[data-lang]")) {
  b.addEventListener("click", () => {
    lang = b.dataset.lang;
    localStorage.setItem("dialect.lang", lang);
    translate();
    render();
  });
}

// ---- tabs -----------------------------------------------------------------

const TABS = ["desk", "callbacks", "chats", "wallboard"];
function selectTab(name) {
  for (const tab of TABS) {
    $(`tab-${tab}`).setAttribute("aria-selected", String(tab === name));
    $(`view-${tab}`).hidden = tab !== name;
  }
  if (name === "callbacks") loadCallbacks();
  if (name === "wallboard") refreshWallboard();
  if (name === "chats") openChatDesk();
}
for (const tab of TABS) $(`tab-${tab}`).addEventListener("click", () => selectTab(tab));
document.querySelector(".tabs").addEventListener("keydown", (e) => {
  const visible = TABS.filter((n) => !$(`tab-${n}`).hidden);
  const i = visible.findIndex((n) => $(`tab-${n}`).getAttribute("aria-selected") === "true");
  if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
    const next = visible[(i + (e.key === "ArrowRight" ? 1 : visible.length - 1)) % visible.length];
    selectTab(next);
    $(`tab-${next}`).focus();
  }
});

// ---- start: the view and the live events ------------------------------------

async function start(agent, csrf) {
  S.me = agent;
  S.csrf = csrf;
  $("login").hidden = true;
  $("app").hidden = false;
  $("me").textContent = agent;
  translate();
  await refresh();
  // One socket: a supervisor's carries every event (their own too).
  if (S.view && S.view.supervisor) {
    $("tab-wallboard").hidden = false;
    wallboardEvents();
  } else {
    liveEvents();
  }
  if (S.view && S.view.phone === "browser") startPhone();
  $("state-select").focus();
}

function socketUrl(path) {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
}

function liveEvents() {
  const ws = new WebSocket(socketUrl(me("/events")));
  ws.onmessage = (m) => {
    let e = {};
    try { e = JSON.parse(m.data); } catch { return; }
    if (e.event && e.event.startsWith("callback")) loadCallbacks();
    scheduleRefresh();
  };
  ws.onclose = () => { if (S.me === agentOf(ws)) setTimeout(liveEvents, 2000); };
  ws.dialectAgent = S.me;
}
const agentOf = (ws) => ws.dialectAgent;

function wallboardEvents() {
  const ws = new WebSocket(socketUrl("/api/wallboard/events"));
  ws.onmessage = (m) => {
    let e = {};
    try { e = JSON.parse(m.data); } catch { return; }
    if (e.event && e.event.startsWith("callback")) loadCallbacks();
    scheduleWallboard();
    scheduleRefresh();
  };
  ws.onclose = () => { if (S.me && S.view && S.view.supervisor) setTimeout(wallboardEvents, 2000); };
}

function scheduleRefresh() {
  if (S.refreshing) return;
  S.refreshing = setTimeout(async () => { S.refreshing = null; await refresh(); }, 80);
}

function scheduleWallboard() {
  if (S.wbRefreshing) return;
  S.wbRefreshing = setTimeout(async () => { S.wbRefreshing = null; await refreshWallboard(); }, 150);
}

async function refresh() {
  if (!S.me) return;
  const r = await api("GET", me());
  if (r.status !== 200) return;
  S.view = r.body;
  S.viewAt = Date.now();
  const call = S.view.call && S.view.call.call;
  if (call != null) {
    const d = await api("GET", `/api/calls/${call}/data`);
    S.callData = d.status === 200 ? d.body : null;
  } else {
    S.callData = null;
  }
  render();
}

// ---- rendering the desk -------------------------------------------------------

function render() {
  const v = S.view;
  if (!v) return;
  renderState(v);
  renderOffer(v);
  renderTasks(v);
  renderCall(v);
  renderWrapUp(v);
  renderPhone();
}

function renderState(v) {
  const select = $("state-select");
  const current = v.state === "idle" ? `idle:${v.reason || ""}` : v.state;
  select.replaceChildren();
  const add = (value, text) => {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = text;
    select.append(o);
  };
  if (v.state === "logged_out") add("logged_out", t("s.logged_out"));
  add(v.state === "logged_out" ? "login" : "available", v.state === "logged_out" ? t("s.login") : t("s.available"));
  for (const reason of v.reasons || []) add(`idle:${reason}`, `${t("s.notready")} ${reason}`);
  if (v.state === "idle" && v.reason && !(v.reasons || []).includes(v.reason)) add(current, `${t("s.notready")} ${v.reason}`);
  if (["ringing", "busy", "wrap_up"].includes(v.state)) add(v.state, t(`s.${v.state}`));
  if (v.state !== "logged_out") add("logout", t("logout"));
  select.value = [...select.options].some((o) => o.value === current) ? current : select.options[0].value;
  $("state-now").textContent = v.state === "idle" ? `${t("s.idle")}: ${v.reason || ""}` : t(`s.${v.state}`);
}

$("state-select").addEventListener("change", async (e) => {
  const value = e.target.value;
  let r;
  if (value === "available") r = await api("POST", me("/ready"));
  else if (value === "login") r = await api("POST", me("/login"));
  else if (value === "logout") r = await api("POST", me("/logout"));
  else if (value.startsWith("idle:")) r = await api("POST", me("/not-ready"), { reason: value.slice(5) });
  else return;
  if (r.status !== 200) flash(r.body.error || `HTTP ${r.status}`);
  else flash("");
  await refresh();
});

function renderOffer(v) {
  // A call offered in the panel (web_panel), or ringing: the browser phone
  // is answered here; a SIP phone is answered on the phone, and the
  // pop-over only says who is calling.
  const offer = v.offer || (v.state === "ringing" ? v.ringing : null);
  const box = $("offer");
  if (!offer) { box.hidden = true; return; }
  const answerable = !!v.offer || v.phone === "browser";
  $("offer-accept").hidden = !answerable;
  $("offer-decline").hidden = !answerable;
  const wasHidden = box.hidden;
  box.hidden = false;
  $("offer-caller").textContent = offer.caller || "";
  $("offer-campaign").textContent = offer.campaign || "";
  $("offer-queue").textContent = offer.queue || "";
  $("offer-waited").textContent = duration(offer.waited_ms);
  const significant = offer.significant;
  $("offer-significant").hidden = !significant;
  $("offer-significant-label").hidden = !significant;
  $("offer-significant").textContent = significant || "";
  box.dataset.kind = v.offer ? "panel" : "phone";
  if (wasHidden && answerable) $("offer-accept").focus();
}

$("offer-accept").addEventListener("click", async () => {
  const panel = $("offer").dataset.kind === "panel";
  if (panel) {
    const r = await api("POST", me("/accept"));
    if (r.status !== 200) { flash(r.body.error || `HTTP ${r.status}`); return; }
    // web_panel: the phone then answers by itself, the browser phone too.
  }
  if (S.phone) await S.phone.answer();
  $("offer").hidden = true;
  scheduleRefresh();
});
$("offer-decline").addEventListener("click", async () => {
  const panel = $("offer").dataset.kind === "panel";
  const r = panel ? await api("POST", me("/decline")) : await api("POST", me("/phone/decline"));
  if (r.status !== 200) flash(r.body.error || `HTTP ${r.status}`);
  $("offer").hidden = true;
  scheduleRefresh();
});

function li(text, onClick) {
  const item = document.createElement("li");
  if (onClick) {
    const b = document.createElement("button");
    b.className = "link";
    b.textContent = text;
    b.addEventListener("click", onClick);
    item.append(b);
  } else item.textContent = text;
  return item;
}

function renderTasks(v) {
  const list = $("tasks");
  list.replaceChildren();
  if (v.offer) list.append(li(`${t("tasks.offer")} ${v.offer.caller}`, () => $("offer-accept").focus()));
  if (v.call) list.append(li(`${t("tasks.call")} ${v.call.caller}`, () => $("hold").focus()));
  for (const call of v.owed_wrap_ups || []) list.append(li(`${t("tasks.wrapup")} ${call}`, () => $("wrapup-classifier").focus()));
  for (const [id, chat] of S.chats) list.append(li(`${t("tasks.chat")} ${chat.name || id}`, () => { selectTab("chats"); showChat(id); }));
  const now = Date.now();
  for (const cb of S.callbacks.filter((c) => c.status === "pending" && Date.parse(c.start) - now < 3600e3)) {
    list.append(li(`${t("tasks.callback")} ${cb.number}`, () => selectTab("callbacks")));
  }
  if (!list.children.length) list.append(li(t("tasks.none")));
}

function renderCall(v) {
  const c = v.call;
  $("call").hidden = !c;
  if (!c) return;
  $("call-caller").textContent = c.caller + (c.held ? ` (${t("call.held")})` : "");
  $("call-campaign").textContent = c.campaign || "";
  $("call-queue").textContent = c.queue || "";
  $("call-recording").textContent = c.recording || "—";
  $("hold").hidden = !!c.held;
  $("resume").hidden = !c.held;
  $("rec-pause").hidden = c.recording !== "recording";
  $("rec-resume").hidden = c.recording !== "paused";
  // Consultation: from the browser phone (the SIP phone consults itself);
  // the conference and the attended transfer once the colleague answered.
  const browser = v.phone === "browser";
  const pc = (v.phone_status && v.phone_status.consult) || null;
  const consult = c.consult || null;
  const consulting = !!(pc || consult);
  $("consult-form").hidden = !browser || consulting;
  $("consulting").hidden = !consulting;
  if (consulting) {
    $("consult-with").textContent = (pc && pc.target) || (consult && consult.with) || "";
    // Answered: the colleague's leg is connected (the controller answers
    // the consultation call itself at once, then rings them).
    const answered = !!(consult && consult.answered);
    $("consult-state").textContent = t(answered ? "call.answered" : "call.ringing");
    $("consult-transfer").hidden = !browser;
    $("consult-transfer").disabled = !answered;
    $("consult-conference").disabled = !(consult && consult.answered);
    $("consult-end").hidden = !browser;
  }
  const targets = $("transfer-targets");
  targets.replaceChildren(...(v.queues || []).map((q) => Object.assign(document.createElement("option"), { value: q })));
  renderCallData();
}

function renderCallData() {
  const box = $("data-fields");
  const d = S.callData;
  if (box.contains(document.activeElement)) return; // do not disturb typing
  box.replaceChildren();
  if (!d) return;
  for (const variable of d.variables || []) {
    const id = `data-${variable.name}`;
    const label = Object.assign(document.createElement("label"), { htmlFor: id, textContent: variable.name });
    const input = Object.assign(document.createElement("input"), { id, value: variable.value || "" });
    input.readOnly = !variable.editable || !!variable.secure;
    if (variable.secure) input.type = "password";
    input.dataset.version = variable.version;
    const note = Object.assign(document.createElement("p"), { className: "field-conflict", id: `${id}-note` });
    note.setAttribute("role", "alert");
    input.addEventListener("change", async () => {
      const r = await api("PUT", `/api/calls/${d.call}/data/${encodeURIComponent(variable.name)}`, {
        value: input.value,
        version: Number(input.dataset.version),
      });
      if (r.status === 409 && r.body.details) {
        note.textContent = `${t("call.conflict")} ${r.body.details.value ?? ""}`;
        input.setAttribute("aria-invalid", "true");
      } else if (r.status !== 200) {
        note.textContent = r.body.error || `HTTP ${r.status}`;
        input.setAttribute("aria-invalid", "true");
      } else {
        note.textContent = "";
        input.removeAttribute("aria-invalid");
        scheduleRefresh();
      }
    });
    box.append(label, input, note);
  }
  const record = d.record;
  const fields = $("record-fields");
  fields.replaceChildren();
  $("record-title").hidden = !record;
  if (record && record.fields) {
    for (const [k, value] of Object.entries(record.fields)) {
      fields.append(Object.assign(document.createElement("dt"), { textContent: k }), Object.assign(document.createElement("dd"), { textContent: value }));
    }
  }
}

async function control(action, body) {
  const r = await api("POST", me(`/call/${action}`), body);
  if (r.status !== 200) flash(r.body.error || `HTTP ${r.status}`);
  else flash("");
  scheduleRefresh();
  return r;
}
$("hold").addEventListener("click", () => control("hold"));
$("resume").addEventListener("click", () => control("resume"));
$("hangup").addEventListener("click", () => control("hang-up"));
$("rec-pause").addEventListener("click", async () => { await api("POST", me("/recording/pause")); scheduleRefresh(); });
$("rec-resume").addEventListener("click", async () => { await api("POST", me("/recording/resume")); scheduleRefresh(); });
$("consult-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const target = $("consult-target").value.trim();
  // The caller waits on hold while the agent consults.
  if (S.view && S.view.call && !S.view.call.held) await control("hold");
  const r = await api("POST", me("/phone/consult"), { target });
  $("consult-error").textContent = r.status === 200 ? "" : (r.body.error || "");
  $("consult-target").setAttribute("aria-invalid", String(r.status !== 200));
  if (r.status === 200) $("consult-target").value = "";
  scheduleRefresh();
});
$("consult-transfer").addEventListener("click", async () => {
  const r = await api("POST", me("/phone/transfer"));
  flash(r.status === 200 ? "" : (r.body.error || ""));
  scheduleRefresh();
});
$("consult-end").addEventListener("click", async () => {
  const r = await api("POST", me("/phone/end-consult"));
  flash(r.status === 200 ? "" : (r.body.error || ""));
  await control("resume");
});
$("consult-conference").addEventListener("click", async () => {
  const v = S.view;
  if (!v || !v.call || !v.call.consult) return;
  const r = await api("POST", `/api/calls/${v.call.call}/conference`, { consult: v.call.consult.call });
  flash(r.status === 200 ? "" : (r.body.error || ""));
  scheduleRefresh();
});
$("transfer-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const target = $("transfer-target").value.trim();
  const r = await control("transfer", { target });
  $("transfer-error").textContent = r.status === 200 ? "" : (r.body.error || "");
  $("transfer-target").setAttribute("aria-invalid", String(r.status !== 200));
  if (r.status === 200) $("transfer-target").value = "";
});

function renderWrapUp(v) {
  const pending = !!v.wrap_up_pending || (v.owed_wrap_ups || []).length > 0;
  const section = $("wrapup");
  const form = $("wrapup-form");
  section.hidden = !pending || !!v.call;
  if (section.hidden) { form.dataset.call = ""; return; }
  const call = String(v.last_call ?? "");
  if (form.dataset.call === call) return; // keep what the agent typed
  form.dataset.call = call;
  const select = $("wrapup-classifier");
  select.replaceChildren(Object.assign(document.createElement("option"), { value: "", textContent: "—" }),
    ...(v.classifiers || []).map((c) => Object.assign(document.createElement("option"), { value: c.name, textContent: c.label })));
  const box = $("wrapup-fields");
  box.replaceChildren();
  for (const f of v.wrap_up_fields || []) {
    if (!f.editable) continue;
    const id = `wrap-${f.name}`;
    const label = Object.assign(document.createElement("label"), { htmlFor: id, textContent: f.name + (f.required ? " *" : "") });
    const input = Object.assign(document.createElement("input"), { id, name: f.name });
    input.required = !!f.required;
    const err = Object.assign(document.createElement("p"), { className: "error", id: `err-wrap-${f.name}` });
    err.setAttribute("role", "alert");
    input.setAttribute("aria-describedby", err.id);
    box.append(label, input, err);
  }
}

$("wrapup-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.target;
  for (const el of form.querySelectorAll(".error")) el.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const classifier = $("wrapup-classifier").value;
  const fields = {};
  for (const input of $("wrapup-fields").querySelectorAll("input")) {
    if (input.value.trim() !== "") fields[input.name] = input.value.trim();
  }
  const body = { classifier, fields };
  if (form.dataset.call) body.call = Number(form.dataset.call);
  const r = await api("POST", me("/wrap-up"), body);
  if (r.status === 200) {
    flash(t("wrapup.done"));
    form.dataset.call = "";
    scheduleRefresh();
    return;
  }
  const details = r.body.details || {};
  let marked = false;
  for (const name of details.missing || []) {
    const input = $(`wrap-${name}`);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      $(`err-wrap-${name}`).textContent = t("wrapup.required");
      if (!marked) input.focus();
      marked = true;
    }
  }
  if (details.field && $(`wrap-${details.field}`)) {
    $(`wrap-${details.field}`).setAttribute("aria-invalid", "true");
    $(`err-wrap-${details.field}`).textContent = r.body.error;
    marked = true;
  }
  if (!classifier || (r.body.error || "").includes("classifier")) {
    $("wrapup-classifier").setAttribute("aria-invalid", "true");
    $("err-classifier").textContent = r.body.error || "";
    marked = true;
  }
  $("wrapup-error").textContent = marked ? "" : (r.body.error || `HTTP ${r.status}`);
});
$("extra-time").addEventListener("click", async () => {
  const r = await api("POST", me("/extra-wrap-up"));
  flash(r.status === 200 ? "" : (r.body.error || ""));
  scheduleRefresh();
});

// The time in state and the talk time tick locally between views.
setInterval(() => {
  const v = S.view;
  if (!v) return;
  const gone = Date.now() - S.viewAt;
  $("state-time").textContent = duration((v.in_state_ms || 0) + gone);
  if (v.call) $("call-time").textContent = duration((v.call.talking_ms || 0) + gone);
  $("wrapup-time").textContent = v.wrap_up_left_ms == null ? "" : `${t("wrapup.left")} ${duration(Math.max(0, v.wrap_up_left_ms - gone))}`;
  const wb = S.wallboard;
  if (wb && !$("view-wallboard").hidden) {
    const since = Date.now() - S.wallboardAt;
    for (const cell of document.querySelectorAll("[data-since]")) cell.textContent = duration(Number(cell.dataset.since) + since);
  }
}, 1000);

// ---- callbacks ----------------------------------------------------------------

async function loadCallbacks() {
  const r = await api("GET", "/api/callbacks");
  if (r.status !== 200) return;
  S.callbacks = r.body.callbacks || [];
  const rows = $("cb-rows");
  rows.replaceChildren();
  for (const cb of S.callbacks) {
    const tr = document.createElement("tr");
    for (const value of [cb.number, cb.name, cb.start, cb.queue, cb.status]) {
      tr.append(Object.assign(document.createElement("td"), { textContent: value ?? "" }));
    }
    const actions = document.createElement("td");
    if (cb.status === "pending") {
      const edit = Object.assign(document.createElement("button"), { type: "button", textContent: t("cb.edit") });
      edit.addEventListener("click", () => editCallback(cb));
      const cancel = Object.assign(document.createElement("button"), { type: "button", textContent: t("cb.cancel") });
      cancel.addEventListener("click", async () => {
        const c = await api("DELETE", `/api/callbacks/${cb.id}`);
        flash(c.status === 200 ? t("cb.cancelled") : (c.body.error || ""));
        loadCallbacks();
      });
      actions.append(edit, cancel);
    }
    tr.append(actions);
    rows.append(tr);
  }
  if (S.view) renderTasks(S.view);
}

function fillQueues() {
  const select = $("cb-queue");
  const queues = (S.view && S.view.queues) || [];
  if (select.options.length === queues.length) return;
  select.replaceChildren(...queues.map((q) => Object.assign(document.createElement("option"), { value: q, textContent: q })));
}

function editCallback(cb) {
  fillQueues();
  $("cb-id").value = cb.id;
  $("cb-kind").value = cb.kind === "personal" ? "personal" : "scheduled";
  $("cb-number").value = cb.number || "";
  $("cb-name").value = cb.name || "";
  $("cb-start").value = (cb.start || "").slice(0, 16);
  $("cb-zone").value = cb.zone || "";
  $("cb-queue").value = cb.queue || "";
  $("cb-reason").value = cb.reason || "";
  $("cb-number").focus();
}

$("cb-clear").addEventListener("click", () => { $("cb-form").reset(); $("cb-id").value = ""; });
$("tab-callbacks").addEventListener("click", () => {
  fillQueues();
  if (!$("cb-zone").value) $("cb-zone").value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
});

$("cb-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.target;
  for (const el of form.querySelectorAll(".error")) el.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const start = $("cb-start").value;
  const body = {
    kind: $("cb-kind").value,
    number: $("cb-number").value.trim(),
    name: $("cb-name").value.trim(),
    start: start.length === 16 ? `${start}:00` : start,
    zone: $("cb-zone").value.trim(),
    queue: $("cb-queue").value,
  };
  const reason = $("cb-reason").value.trim();
  if (reason) body.reason = reason;
  const id = $("cb-id").value;
  const r = id ? await api("PUT", `/api/callbacks/${id}`, body) : await api("POST", "/api/callbacks", body);
  if (r.status === 200 || r.status === 201) {
    flash(t("cb.saved"));
    form.reset();
    $("cb-id").value = "";
    loadCallbacks();
    return;
  }
  let first = null;
  for (const refusal of Array.isArray(r.body.details) ? r.body.details : []) {
    const field = refusal.field === "end" ? "start" : refusal.field;
    const err = $(`err-${field}`);
    const input = $(`cb-${field}`);
    if (err) err.textContent = refusal.message;
    if (input) { input.setAttribute("aria-invalid", "true"); first = first || input; }
  }
  if (first) first.focus();
  else $("cb-error").textContent = r.body.error || `HTTP ${r.status}`;
});

// ---- chats --------------------------------------------------------------------

function openChatDesk() {
  if (S.chatSocket) return;
  const ws = new WebSocket(socketUrl(me("/chat")));
  S.chatSocket = ws;
  ws.onmessage = (m) => {
    let e;
    try { e = JSON.parse(m.data); } catch { return; }
    const id = e.chat;
    if (id == null) return;
    const chat = S.chats.get(id) || { name: e.name || e.customer || "", lines: [] };
    if (Array.isArray(e.transcript)) for (const line of e.transcript) chat.lines.push(line);
    if (e.text) chat.lines.push({ from: e.from || e.type, text: e.text });
    if (e.type === "closed" || e.type === "ended") S.chats.delete(id);
    else S.chats.set(id, chat);
    renderChats();
    if (S.view) renderTasks(S.view);
  };
  ws.onclose = () => { S.chatSocket = null; };
}

function renderChats() {
  const list = $("chat-list");
  list.replaceChildren();
  for (const [id, chat] of S.chats) list.append(li(`${chat.name || id}`, () => showChat(id)));
  if (S.chatOpen != null) showChat(S.chatOpen);
}

function showChat(id) {
  S.chatOpen = id;
  const chat = S.chats.get(id);
  const ol = $("chat-transcript");
  ol.replaceChildren();
  for (const line of (chat && chat.lines) || []) {
    const text = typeof line === "string" ? line : `${line.from || ""}: ${line.text || ""}`;
    ol.append(Object.assign(document.createElement("li"), { textContent: text }));
  }
}

$("chat-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("chat-text").value.trim();
  if (!text || S.chatOpen == null || !S.chatSocket) return;
  S.chatSocket.send(JSON.stringify({ type: "message", chat: S.chatOpen, text }));
  const chat = S.chats.get(S.chatOpen);
  if (chat) chat.lines.push({ from: S.me, text });
  $("chat-text").value = "";
  showChat(S.chatOpen);
});
$("chat-close").addEventListener("click", () => {
  if (S.chatOpen == null || !S.chatSocket) return;
  S.chatSocket.send(JSON.stringify({ type: "close", chat: S.chatOpen }));
  S.chats.delete(S.chatOpen);
  S.chatOpen = null;
  renderChats();
});

// ---- the wallboard ------------------------------------------------------------

async function refreshWallboard() {
  const r = await api("GET", "/api/wallboard");
  if (r.status !== 200) return;
  S.wallboard = r.body;
  S.wallboardAt = Date.now();
  renderWallboard();
}

function cell(text, extra = {}) {
  return Object.assign(document.createElement("td"), { textContent: text ?? "" }, extra);
}

function renderWallboard() {
  const wb = S.wallboard;
  if (!wb) return;
  const queues = document.querySelector("#wb-queues tbody");
  queues.replaceChildren();
  for (const q of wb.queues || []) {
    const tr = document.createElement("tr");
    tr.dataset.queue = q.queue;
    const level = q.service_level_percent == null ? "—"
      : `${q.service_level_percent.toFixed(0)} % / ${q.service_target_percent == null ? "—" : q.service_target_percent.toFixed(0) + " %"}`;
    tr.append(cell(q.queue), cell(String(q.waiting), { className: "waiting" }), cell(duration(q.longest_wait_ms)),
      cell(level), cell(String(q.answered_today)), cell(String(q.abandoned_today)));
    queues.append(tr);
  }
  const agents = document.querySelector("#wb-agents tbody");
  agents.replaceChildren();
  for (const a of wb.agents || []) {
    const tr = document.createElement("tr");
    tr.dataset.agent = a.agent;
    const state = a.state === "idle" ? `${t("s.idle")}: ${a.reason || ""}` : t(`s.${a.state}`);
    const since = cell(duration(a.in_state_ms));
    since.dataset.since = a.in_state_ms;
    const actions = document.createElement("td");
    if (a.state === "available") {
      const b = Object.assign(document.createElement("button"), { type: "button", textContent: t("wb.notready") });
      b.setAttribute("aria-label", `${t("wb.notready")}: ${a.agent}`);
      b.addEventListener("click", () => supervise(a.agent, "not-ready"));
      actions.append(b);
    }
    if (["available", "idle"].includes(a.state)) {
      const b = Object.assign(document.createElement("button"), { type: "button", textContent: t("wb.logout") });
      b.setAttribute("aria-label", `${t("wb.logout")}: ${a.agent}`);
      b.addEventListener("click", () => supervise(a.agent, "logout"));
      actions.append(b);
    }
    tr.append(cell(a.agent), cell(state, { className: "agent-state" }), since, actions);
    agents.append(tr);
  }
  const alerts = $("wb-alerts");
  alerts.replaceChildren();
  for (const a of wb.alerts || []) alerts.append(Object.assign(document.createElement("li"), { textContent: `${a.campaign}: ${a.alert}${a.subject ? ` — ${a.subject}` : ""} (${a.value})` }));
  if (!alerts.children.length) alerts.append(Object.assign(document.createElement("li"), { textContent: t("wb.noalerts"), className: "none" }));
  renderChart(wb.chart);
}

async function supervise(agent, action) {
  const r = await api("POST", `/api/wallboard/agents/${encodeURIComponent(agent)}/${action}`);
  flash(r.status === 200 ? "" : (r.body.error || `HTTP ${r.status}`));
  scheduleWallboard();
}

function renderChart(chart) {
  const box = $("wb-chart");
  if (!chart) { box.replaceChildren(); return; }
  const quarters = chart.quarters || [];
  const max = Math.max(1, ...quarters);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 960 120");
  svg.setAttribute("role", "img");
  const total = quarters.reduce((a, b) => a + b, 0);
  svg.setAttribute("aria-label", `${t("wb.chart")}: ${total}`);
  quarters.forEach((n, i) => {
    const h = (n / max) * 100;
    const rect = document.createElementNS(ns, "rect");
    rect.setAttribute("x", String(i * 10));
    rect.setAttribute("y", String(100 - h));
    rect.setAttribute("width", "8");
    rect.setAttribute("height", String(h));
    const title = document.createElementNS(ns, "title");
    const hh = String(Math.floor(i / 4)).padStart(2, "0"), mm = String((i % 4) * 15).padStart(2, "0");
    title.textContent = `${hh}:${mm} — ${n}`;
    rect.append(title);
    svg.append(rect);
    if (i % 8 === 0) {
      const label = document.createElementNS(ns, "text");
      label.setAttribute("x", String(i * 10));
      label.setAttribute("y", "115");
      label.textContent = `${hh}:00`;
      svg.append(label);
    }
  });
  box.replaceChildren(svg);
}

// ---- the browser phone ------------------------------------------------------

async function startPhone() {
  if (S.phone) return;
  S.phone = new BrowserPhone({
    agent: S.me,
    api,
    audio: $("phone-audio"),
    onState: () => renderPhone(),
  });
  await S.phone.start();
  renderPhone();
}

function renderPhone() {
  const badge = $("phone-status");
  if (!S.view || S.view.phone !== "browser") { badge.textContent = ""; return; }
  const state = S.phone ? S.phone.state : "off";
  badge.textContent = t(state === "connected" ? "phone.connected" : state === "connecting" ? "phone.connecting" : "phone.off");
  badge.dataset.state = state;
}

// ---- boot -----------------------------------------------------------------------

translate();
(async () => {
  const r = await fetch("/desk/session", { credentials: "same-origin" });
  if (r.status === 200) {
    const body = await r.json();
    start(body.agent, body.csrf);
  } else {
    showLogin("");
  }
})();
