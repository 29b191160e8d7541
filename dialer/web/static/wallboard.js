// The live wallboard: draws the floor's picture the server sends every 2 s (server-sent
// events), and lets the lead acknowledge an alert. Text only through textContent.

const text = JSON.parse(document.getElementById("wallboard-text").textContent);
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const $ = (id) => document.getElementById(id);
const vnd = new Intl.NumberFormat("vi-VN", { style: "currency", currency: "VND", maximumFractionDigits: 0 });
const percent = (x) => `${(x * 100).toFixed(1)}%`;

function pad(n) { return String(Math.floor(n)).padStart(2, "0"); }
function clock(s) { return s >= 3600 ? `${pad(s / 3600)}:${pad((s % 3600) / 60)}:${pad(s % 60)}` : `${pad(s / 60)}:${pad(s % 60)}`; }

function el(tag, className, content) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (content !== undefined) node.textContent = content;
  return node;
}

function drawAgents(agents) {
  const list = $("agents");
  list.replaceChildren(...agents.map((a) => {
    const tile = el("li", `tile state-${a.state}${a.overrun ? " overrun" : ""}`);
    tile.dataset.agent = a.id;
    tile.append(el("span", "tile-name", a.name));
    tile.append(el("span", "tile-state", text.states[a.state] || a.state));
    tile.append(el("span", "tile-time", clock(a.seconds)));
    const why = a.overrun ? text.overrun : a.pause_reason ? (text.pauses[a.pause_reason] || a.pause_reason)
      : a.pause_pending ? `${text.pending}: ${text.pauses[a.pause_pending] || a.pause_pending}` : "";
    if (why) tile.append(el("span", "tile-why", why));
    return tile;
  }));
  $("no-agents").hidden = agents.length > 0;
}

function drawCampaigns(campaigns) {
  const body = $("campaigns").querySelector("tbody");
  body.replaceChildren(...campaigns.map((c) => {
    const row = el("tr");
    row.dataset.campaign = c.id;
    const over = c.abandon_rate > c.abandon_target;
    const overWindow = c.abandon_window.rate > c.abandon_window.cap;
    row.append(el("td", "", c.name), el("td", "", c.queued), el("td", "", c.retry_waiting),
      el("td", "", c.connected),
      el("td", over ? "bad" : "", `${percent(c.abandon_rate)} / ${percent(c.abandon_target)}`),
      el("td", overWindow ? "bad" : "", `${percent(c.abandon_window.rate)} / ${percent(c.abandon_window.cap)} (${c.abandon_window.hours} h)`));
    return row;
  }));
}

function drawBlocked(blocked) {
  const entries = Object.entries(blocked).sort((a, b) => b[1] - a[1]);
  $("blocked").replaceChildren(...(entries.length ? entries.map(([rule, n]) => {
    const li = el("li");
    li.append(el("span", "", text.rules[rule] || rule), el("strong", "", n));
    return li;
  }) : [el("li", "hint", text.none)]));
}

function drawAlerts(alerts) {
  $("alerts").replaceChildren(...(alerts.length ? alerts.map((a) => {
    const li = el("li", "alert-row");
    li.append(el("strong", "", `${a.kind} · ${a.account_no}`), el("span", "muted", `${a.agent_name || ""} ${a.note || ""}`));
    const ack = el("button", "", text.ack);
    ack.type = "button";
    ack.addEventListener("click", () => acknowledge(a.id, ack));
    li.append(ack);
    return li;
  }) : [el("li", "hint", text.none)]));
}

async function acknowledge(id, button) {
  button.disabled = true;
  const response = await fetch(`/api/alerts/${id}/ack`, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf }, body: "{}",
  });
  const body = await response.json().catch(() => ({}));
  const error = $("ack-error");
  error.hidden = response.ok;
  error.textContent = response.ok ? "" : body.message || body.error || String(response.status);
  if (response.ok) button.closest("li").remove(); else button.disabled = false;
}

function draw(p) {
  for (const state of ["ready", "on_call", "wrap_up", "paused"]) $(`k-${state}`).textContent = p.by_state[state] || 0;
  $("k-ringing").textContent = p.ringing;
  $("k-connected").textContent = p.connected;
  $("k-dial-level").textContent = p.dial_level.toFixed(2);
  $("k-promises").textContent = p.promises;
  $("k-promised").textContent = vnd.format(p.promised_amount);
  drawAgents(p.agents);
  drawCampaigns(p.campaigns);
  drawBlocked(p.blocked);
  drawAlerts(p.alerts);
  $("updated").textContent = text.updated.replace("{time}", new Date().toLocaleTimeString("vi-VN"));
}

draw(JSON.parse(document.getElementById("wallboard-first").textContent));
const events = new EventSource("/console/live/events", { withCredentials: true });
events.addEventListener("wallboard", (e) => draw(JSON.parse(e.data)));
events.onerror = () => { $("updated").textContent = text.lost; };
