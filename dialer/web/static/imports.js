// An import run's progress bar: polls the run's JSON status (lines processed of the file's
// total, kept in Redis by the worker) and, once the run is done or failed, reloads the page,
// which then shows the row report.

const box = document.getElementById("import-progress");
const bar = document.getElementById("progress-bar");
const POLL_MS = 700;

async function poll() {
  let status;
  try {
    const response = await fetch(box.dataset.statusUrl, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) throw new Error(String(response.status));
    status = await response.json();
  } catch {
    setTimeout(poll, POLL_MS * 3); // the server is restarting: try again a little later
    return;
  }
  bar.max = status.total || 1;
  bar.value = status.processed;
  document.getElementById("progress-percent").textContent = `${status.percent}%`;
  document.getElementById("progress-count").textContent = String(status.processed);
  document.getElementById("progress-state").textContent = status.state_name;
  document.getElementById("run-state").textContent = status.state_name;
  if (status.state === "done" || status.state === "failed") {
    window.location.reload();
    return;
  }
  setTimeout(poll, POLL_MS);
}

if (box) setTimeout(poll, POLL_MS);
