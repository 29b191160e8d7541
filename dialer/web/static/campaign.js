// One campaign's page: its control buttons, and "save as a daily template" (POST
// /api/campaigns/templates from this campaign's settings).
import { post, refusal, wireActions } from "./console.js";

const page = document.querySelector(".campaign-page");
const id = page.dataset.campaign;
const text = JSON.parse(document.getElementById("campaign-text").textContent);

wireActions(
  document.querySelectorAll("#campaign-actions button[data-action]"),
  (b) => `/api/campaigns/${id}/${b.dataset.action}`, document.getElementById("action-error"),
);

const form = document.getElementById("template-form");
form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const error = document.getElementById("template-error");
  const result = await post("/api/campaigns/templates", {
    from_campaign: Number(id), name: form.elements.name.value.trim(),
    launch_time: form.elements.launch_time.value.trim(), weekdays: form.elements.weekdays.value.trim(),
  });
  error.hidden = false;
  if (!result.ok) { error.classList.add("form-error"); error.textContent = refusal(result.data); return; }
  error.classList.remove("form-error");
  const when = result.data.next_launch ? new Date(result.data.next_launch).toLocaleString("vi-VN") : "—";
  error.textContent = text.saved.replace("{when}", when);
});
