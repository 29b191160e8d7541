// The agent desk: follows the agent's event stream (server-sent events, no polling), draws
// the state, fetches the server-rendered screen pop when a call lands, and posts the
// agent's actions to the JSON API with the page's CSRF token. No build step: a plain module.

const config = JSON.parse(document.getElementById("desk-config").textContent);
const text = JSON.parse(document.getElementById("desk-messages").textContent);
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const $ = (id) => document.getElementById(id);
const agentApi = `/api/agents/${config.agentId}`;

let current = config.state;       // the agent's presence as the server last said
let stateSince = 0;               // simulated unix seconds the state started
let wrapUpDeadline = null;        // simulated unix seconds the code is due
let attemptOnScreen = null;
const loadedAt = performance.now();

// The demo runs simulated time (DIALER_SPEED); the server says where its clock was.
function simNow() {
  return config.now + ((performance.now() - loadedAt) / 1000) * config.speed;
}

function signInAgain() { window.location.assign("/login?next=/desk"); }

// A page request whose session ended is sent to the sign-in page: never drawn as a part.
async function page(url, options = {}) {
  let response;
  try {
    response = await fetch(url, { credentials: "same-origin", ...options });
  } catch {
    showError($("shift-error"), text.network);
    return null;
  }
  if (response.redirected && new URL(response.url).pathname === "/login") { signInAgain(); return null; }
  return response;
}

async function send(method, url, body) {
  const response = await page(url, {
    method,
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response === null) return { ok: false, status: 0, data: { error: text.network } };
  if (response.status === 401) signInAgain();
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json() : { error: await response.text() };
  return { ok: response.ok, status: response.status, data: typeof data === "object" && data ? data : {} };
}

function showError(el, message) {
  el.textContent = message || "";
  el.hidden = !message;
}

function toast(message) {
  const el = document.createElement("div");
  el.className = "toast";
  el.setAttribute("role", "status");
  el.textContent = message;
  document.body.appendChild(el);
  setTimeout(() => el.remove(), 2500);
}

function pad(n) { return String(Math.floor(n)).padStart(2, "0"); }
function clockText(seconds) {
  const s = Math.max(0, seconds);
  return s >= 3600 ? `${pad(s / 3600)}:${pad((s % 3600) / 60)}:${pad(s % 60)}` : `${pad(s / 60)}:${pad(s % 60)}`;
}

// ---- state ---------------------------------------------------------------------------

function setState(change) {
  current = { ...current, ...change };
  const state = current.state;
  stateSince = change.at ? Date.parse(change.at) / 1000 : (change.since ?? stateSince);
  const badge = $("state-badge");
  badge.dataset.state = state;
  $("state-name").textContent = text[state] || state;
  const online = state !== "offline";
  $("offline-controls").hidden = online;
  $("online-controls").hidden = !online;
  $("ready").disabled = !(state === "paused" || current.pause_pending);
  $("pause").disabled = !["ready", "on_call", "wrap_up", "reserved"].includes(state) || current.pause_pending;
  $("pause-pending").hidden = !current.pause_pending;
  const preview = config.modes[current.campaign_id] === "preview";
  $("preview-next").hidden = !(preview && state === "ready");
  if (state === "wrap_up") {
    const limit = config.wrapUp[current.campaign_id] ?? config.inboundWrapUp;
    wrapUpDeadline = stateSince + limit;
    markCallEnded();
  } else {
    wrapUpDeadline = null;
  }
  if (state === "connecting") phone.ringing();
  else if (online) phone.connected();
  else phone.idle();
  if (state === "ready" && !attemptOnScreen) showIdle(text.waiting);
  if (state === "offline" && !attemptOnScreen) showIdle();
  tick();
}

function tick() {
  const now = simNow();
  $("state-timer").textContent = clockText(now - stateSince);
  const timer = $("wrapup-timer");
  if (wrapUpDeadline !== null) {
    const left = Math.ceil(wrapUpDeadline - now);
    timer.hidden = false;
    timer.classList.toggle("over", left <= 0);
    timer.textContent = left > 0 ? text.wrapup_left.replace("{s}", clockText(left)) : text.wrapup_over;
  } else {
    timer.hidden = true;
  }
}
setInterval(tick, 1000 / Math.min(Math.max(config.speed, 1), 10));

// ---- the event stream ----------------------------------------------------------------

let lastEventId = null;

// EventSource reconnects by itself (with Last-Event-ID) after a network error; when the
// server refused or ended the stream (the session ended) it stays closed: then the desk
// asks whether it is still signed in, and follows again from the last event it had.
function follow() {
  const url = lastEventId ? `${agentApi}/events?last_event_id=${encodeURIComponent(lastEventId)}` : `${agentApi}/events`;
  const events = new EventSource(url, { withCredentials: true });
  const seen = (e) => { if (e.lastEventId) lastEventId = e.lastEventId; };
  events.addEventListener("state", (e) => {
    seen(e);
    setState(JSON.parse(e.data));
  });
  events.addEventListener("screen-pop", (e) => {
    seen(e);
    const pop = JSON.parse(e.data);
    setState({ state: pop.state || "on_call", attempt_id: pop.attempt_id, campaign_id: pop.campaign_id ?? current.campaign_id, at: pop.at });
    loadCall(pop.attempt_id);
  });
  events.onopen = () => showError($("shift-error"), "");
  events.onerror = async () => {
    if (events.readyState !== EventSource.CLOSED) { showError($("shift-error"), text.network); return; }
    const still = await send("GET", agentApi);
    if (still.status === 401 || still.status === 0 && !navigator.onLine) return;
    setTimeout(follow, 3000);
  };
}

// ---- the call on screen --------------------------------------------------------------

function showIdle(message) {
  attemptOnScreen = null;
  $("call").hidden = true;
  $("call").innerHTML = "";
  $("idle").hidden = false;
  if (message) $("idle-text").textContent = message;
}

async function loadCall(attemptId) {
  if (attemptOnScreen === attemptId) return;
  const response = await page(`/desk/calls/${attemptId}`);
  if (response === null || !response.ok) return;
  attemptOnScreen = attemptId;
  $("call").innerHTML = await response.text();
  $("call").hidden = false;
  $("idle").hidden = true;
  bindCall();
  if (current.state === "wrap_up") markCallEnded();
}

function markCallEnded() {
  const article = document.querySelector("#call article.call");
  if (!article) return;
  article.dataset.ended = "true";
  const hang = $("hang-up");
  if (hang) hang.hidden = true;
  const status = $("call-status");
  if (status) status.textContent = text.call_ended;
}

function selectedCode(form) {
  const checked = form.querySelector('input[name="code"]:checked');
  return checked ? checked.closest("label.code") : null;
}

function showFields(form) {
  const label = selectedCode(form);
  const requires = label ? label.dataset.requires.split(" ").filter(Boolean) : [];
  form.querySelectorAll(".field").forEach((field) => {
    field.hidden = !("always" in field.dataset) && !requires.includes(field.dataset.field);
  });
}

function clearErrors(form) {
  form.querySelectorAll(".field-error").forEach((el) => { el.textContent = ""; });
  form.querySelectorAll(".invalid").forEach((el) => el.classList.remove("invalid"));
  showError(form.querySelector(".form-error"), "");
}

function fieldError(form, name, message) {
  const slot = form.querySelector(`.field-error[data-for="${name}"]`);
  if (!slot) return false;
  slot.textContent = slot.textContent ? `${slot.textContent} ${message}` : message;
  const field = slot.closest(".field");
  if (field) { field.classList.add("invalid"); field.hidden = false; }
  return true;
}

function bindCall() {
  const form = $("disposition");
  form.addEventListener("change", (e) => { if (e.target.name === "code") showFields(form); });
  showFields(form);
  let saving = false;  // one save at a time: a double Enter posts once
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (saving) return;
    clearErrors(form);
    const label = selectedCode(form);
    if (!label) { fieldError(form, "code", text.choose_code); return; }
    const body = { code: label.querySelector("input").value };
    for (const field of form.querySelectorAll(".field:not([hidden])")) {
      if (field.dataset.field === "callback_at") {
        // The centre's local time; the server reads a time without a zone as the centre's.
        body.callback_at = `${form.elements.callback_day.value}T${form.elements.callback_time.value}`;
        continue;
      }
      const input = field.querySelector("input, textarea, select");
      if (!input || input.value.trim() === "") continue;
      body[input.name] = input.name === "promise_amount" ? Number(input.value) : input.value.trim();
    }
    const button = form.querySelector('button[type="submit"]');
    saving = button.disabled = true;
    const result = await send("POST", form.dataset.url, body);
    saving = button.disabled = false;
    if (result.ok) {
      toast(text.saved);
      showIdle(text.waiting);
      refreshLists();
      return;
    }
    const details = (result.data && result.data.details) || [];
    let placed = false;
    for (const d of details) placed = fieldError(form, d.field || "code", d.message) || placed;
    const general = details.filter((d) => !d.field).map((d) => d.message);
    showError(form.querySelector(".form-error"),
      general.length ? general.join(" ") : (placed ? text.refused : (result.data.message || result.data.error || text.refused)));
  });
  const hang = $("hang-up");
  if (hang) hang.addEventListener("click", hangUp);
}

async function hangUp() {
  if (!attemptOnScreen) return;
  await send("POST", `/desk/calls/${attemptOnScreen}/hangup`);
}

// ---- keyboard shortcuts: 1-9 choose a code, Enter saves, Esc hangs up -------------------

document.addEventListener("keydown", (e) => {
  const form = $("disposition");
  if (!form || $("call").hidden || e.ctrlKey || e.metaKey || e.altKey) return;
  // Keys typed into a field (a note, a list being chosen from) are the field's; Enter on a
  // button or a link is that button's or link's.
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(e.target.tagName) && e.target.type !== "radio";
  const control = ["BUTTON", "A"].includes(e.target.tagName);
  if (typing || (control && e.key === "Enter")) return;
  if (e.key === "Escape") { hangUp(); return; }
  if (/^[1-9]$/.test(e.key)) {
    const radio = form.querySelector(`input[data-key="${e.key}"]`);
    if (radio) { radio.checked = true; radio.focus(); showFields(form); e.preventDefault(); }
  } else if (e.key === "Enter") {
    e.preventDefault();
    form.requestSubmit();
  }
});

// ---- my callbacks and payments ----------------------------------------------------------

async function refreshLists() {
  const box = $("lists");
  const response = await page(box.dataset.url);
  if (response !== null && response.ok) box.innerHTML = await response.text();
}

// ---- shift controls -----------------------------------------------------------------------

async function act(path, body) {
  const result = await send("POST", `${agentApi}/${path}`, body);
  showError($("shift-error"), result.ok ? "" : result.data.message || result.data.error || String(result.status));
  if (result.ok && result.data.state) setState(result.data);
  return result;
}

$("go-online").addEventListener("click", async () => {
  await phone.register();
  act("login", { campaign_id: Number($("campaign").value) });
});
$("ready").addEventListener("click", () => act("resume"));
$("pause").addEventListener("click", () => act("pause", { code: $("pause-code").value }));
$("log-off").addEventListener("click", () => act("logout"));
$("preview-next").addEventListener("click", async () => {
  const response = await page("/desk/preview", { method: "POST", headers: { "X-CSRFToken": csrf } });
  if (response === null) return;
  if (!response.ok) {
    const refused = await response.json().catch(() => ({}));
    showError($("shift-error"), refused.message || refused.error || text.no_preview);
    return;
  }
  $("call").innerHTML = await response.text();
  $("call").hidden = false;
  $("idle").hidden = true;
  const dial = $("preview-dial");
  if (dial) {
    dial.addEventListener("click", async () => {
      const r = await send("POST", "/desk/preview/dial");
      if (!r.ok) showError($("preview-error"), r.data.message || r.data.error);
      else showIdle(text.waiting);
    });
    $("preview-skip").addEventListener("click", async () => {
      const r = await send("POST", "/desk/preview/skip", { reason: $("skip-reason").value });
      if (!r.ok) showError($("preview-error"), r.data.message || r.data.error);
      else showIdle(text.waiting);
    });
  }
});

// ---- the softphone: Twilio's Voice SDK, or the built-in one on the mock carrier ---------

const status = (message) => { $("phone-status").textContent = message; };
const answerButton = $("phone-answer"), hangupButton = $("phone-hangup");

const builtIn = {
  registered: null,
  register() {
    this.registered ??= send("POST", "/desk/softphone", { action: "register" });
    return this.registered;
  },
  ringing() { status(text.phone_ringing); answerButton.hidden = false; hangupButton.hidden = true; },
  connected() { status(text.phone_connected); answerButton.hidden = true; hangupButton.hidden = false; },
  idle() { status(text.phone_idle); answerButton.hidden = true; hangupButton.hidden = true; },
  answer() { return send("POST", "/desk/softphone", { action: "answer" }); },
  hangup() { return send("POST", "/desk/softphone", { action: "hangup" }); },
};

const twilioPhone = {
  device: null, call: null, registering: null,
  register() {
    this.registering ??= this.start();
    return this.registering;
  },
  async start() {
    const result = await send("GET", `${agentApi}/token`);
    if (!result.ok) { this.registering = null; status(text.phone_error); showError($("shift-error"), result.data.message || result.data.error); return; }
    this.device = new window.Twilio.Device(result.data.token, { closeProtection: true });
    this.device.on("incoming", (call) => {
      this.call = call;
      call.on("disconnect", () => { this.call = null; });
      if (current.state === "connecting") call.accept();  // the agent asked for this leg
      else builtIn.ringing();
    });
    this.device.on("error", () => status(text.phone_error));
    await this.device.register();
  },
  ringing: builtIn.ringing, connected: builtIn.connected, idle: builtIn.idle,
  answer() { if (this.call) this.call.accept(); },
  hangup() { if (this.call) this.call.disconnect(); },
};

const phone = config.softphone === "twilio" ? twilioPhone : builtIn;
answerButton.addEventListener("click", () => phone.answer());
hangupButton.addEventListener("click", () => phone.hangup());

// ---- start -----------------------------------------------------------------------------------

// The softphone registers on load, like a desk phone plugged in: ready to receive the leg
// the dialer places when the agent goes on line.
phone.register();
setState({ ...config.state, since: config.state.since ?? config.now });
if (config.state.attempt_id && ["on_call", "wrap_up", "reserved"].includes(config.state.state)) {
  loadCall(config.state.attempt_id);
}
refreshLists();
follow();
