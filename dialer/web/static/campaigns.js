// The campaign form: settings read from the form, the live count of matching accounts as
// the filters change (POST /api/campaigns/count: the launch's own SELECT, nothing written),
// a refusal shown at the field it names; and the list's launch / pause / resume / stop.

import { post, refusal, wireActions } from "./console.js";

const text = JSON.parse(document.getElementById("campaign-text").textContent);
const form = document.getElementById("campaign-form");
const $ = (id) => document.getElementById(id);

const number = (name) => { const v = form.elements[name].value; return v === "" ? undefined : Number(v); };
const text_ = (name) => form.elements[name].value.trim() || undefined;
const list = (name) => { const v = text_(name); return v ? v.split(",").map((x) => x.trim()).filter(Boolean) : undefined; };
const checked = (name) => form.elements[name].checked || undefined;

function settings() {
  const filters = {
    buckets: [...form.querySelectorAll('input[name="buckets"]:checked')].map((b) => b.value),
    dpd_min: number("dpd_min"), dpd_max: number("dpd_max"),
    min_overdue_amount: number("min_overdue_amount"),
    products: list("products"), branches: list("branches"), account_list: text_("account_list"),
    broken_promise: checked("broken_promise"), callbacks_due: checked("callbacks_due"),
  };
  if (!filters.buckets.length) delete filters.buckets;
  const out = {
    dial_mode: form.elements.dial_mode.value,
    compliance_profile: form.elements.compliance_profile.value,
    team: text_("team"), window_start: text_("window_start"), window_end: text_("window_end"),
    script: text_("script"), on_machine: form.elements.on_machine.value,
    wrap_up_seconds: number("wrap_up_seconds"),
    abandon_target: number("abandon_target") === undefined ? undefined : number("abandon_target") / 100,
    record_calls: form.elements.record_calls.checked,
    company_name: text_("company_name"), callback_number: text_("callback_number"),
    max_attempts_per_entry: number("max_attempts_per_entry"),
    max_attempts_per_day: number("max_attempts_per_day"),
    retry_minutes: Object.fromEntries([...form.querySelectorAll("input[data-retry]")]
      .filter((i) => i.value !== "").map((i) => [i.dataset.retry, Number(i.value)])),
    agent_ids: [...form.querySelectorAll('input[name="agent_ids"]:checked')].map((i) => Number(i.value)),
    filters: Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== undefined)),
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined));
}

// A refusal says which setting it is about (details[].field, e.g. "dpd_min",
// "window_start"): that field is marked and the reason, in the reader's language, shown
// under the form's fields.
function refuse(data) {
  form.querySelectorAll(".invalid").forEach((el) => el.classList.remove("invalid"));
  const error = $("form-error");
  const message = data ? refusal(data) : "";
  error.hidden = !message;
  error.textContent = message;
  if (!message) return;
  const fields = (data.details || []).flatMap((d) => (d.field || "").split(","));
  for (const el of form.elements) {
    if (el.name && fields.includes(el.name)) el.closest("label, fieldset")?.classList.add("invalid");
  }
}

let pending = null, asked = 0;
async function count() {
  const mine = ++asked;
  const result = await post("/api/campaigns/count", settings());
  if (mine !== asked) return;  // an older answer, after a newer question
  if (!result.ok) { $("matching").textContent = "—"; $("excluded").textContent = ""; refuse(result.data); return; }
  refuse(null);
  $("matching").textContent = result.data.matching.toLocaleString("vi-VN");
  const left = Object.entries(result.data.excluded).map(([rule, n]) => `${text.rules[rule] || rule} ${n.toLocaleString("vi-VN")}`);
  $("excluded").textContent = left.length ? `(${text.left_out} ${left.join(", ")})` : "";
}
form.addEventListener("input", () => { clearTimeout(pending); pending = setTimeout(count, 250); });
form.addEventListener("change", () => { clearTimeout(pending); pending = setTimeout(count, 50); });

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const result = await post("/api/campaigns", { name: form.elements.name.value.trim(), ...settings() });
  if (!result.ok) { refuse(result.data); return; }
  window.location.reload();
});

wireActions(
  document.querySelectorAll("#campaign-list button[data-action]"),
  (b) => `/api/campaigns/${b.closest("tr").dataset.campaign}/${b.dataset.action}`, $("action-error"),
);

// Daily templates: run today's launch now, or stop launching it.
wireActions(
  document.querySelectorAll("#template-list button[data-template-action]"),
  (b) => `/api/campaigns/templates/${b.closest("tr").dataset.template}/${b.dataset.templateAction}`,
  $("template-error"),
);

count();
