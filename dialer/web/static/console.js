// What the console's pages share: a JSON POST with the page's CSRF token, and action
// buttons (a campaign's launch / pause / resume / rebuild / stop, a template's run /
// disable) that post to the API and reload the page, or show the refusal in the reader's
// language.

const csrf = document.querySelector('meta[name="csrf-token"]').content;

export async function post(url, body) {
  const response = await fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
    body: JSON.stringify(body ?? {}),
  });
  const data = await response.json().catch(() => ({}));
  return { ok: response.ok, status: response.status, data };
}

export const refusal = (data) => data.message || data.error || "";

export function wireActions(buttons, urlOf, errorBox) {
  for (const button of buttons) {
    button.addEventListener("click", async () => {
      button.disabled = true;
      const result = await post(urlOf(button));
      errorBox.hidden = result.ok;
      errorBox.textContent = result.ok ? "" : refusal(result.data);
      if (result.ok) window.location.reload(); else button.disabled = false;
    });
  }
}
