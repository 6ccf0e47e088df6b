// The diary's "waiting now": polls a small JSON endpoint and rewrites each watched
// appointment's waiting list. The page works without it (the list as of loading).
const root = document.getElementById("diary");
const state = { polls: 0, waiting: {} };
window.rapportDiary = state;

function show(waiting) {
  for (const box of root.querySelectorAll("[data-waiting]")) {
    const lines = waiting[box.dataset.waiting] || [];
    const text = lines.join("\n");
    if (box.dataset.shown === text) continue; // no churn for screen readers
    box.dataset.shown = text;
    box.replaceChildren(...lines.map((line) => {
      const p = document.createElement("p");
      p.className = "waiting-now";
      p.textContent = line;
      return p;
    }));
  }
}

async function poll() {
  try {
    const response = await fetch(root.dataset.pollUrl, { credentials: "same-origin",
      headers: { Accept: "application/json" } });
    if (response.ok) {
      const body = await response.json();
      state.waiting = body.waiting;
      state.polls += 1;
      show(body.waiting);
    }
  } catch (error) {
    // Offline for a moment: keep what is shown and try again at the next tick.
  }
}

if (root && root.querySelector("[data-waiting]")) {
  const seconds = Number(root.dataset.pollSeconds) || 5;
  setInterval(poll, seconds * 1000);
  poll();
}
