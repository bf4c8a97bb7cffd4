// Live updates: the server says "change" over Server-Sent Events when the state moved;
// the page fetches itself again and swaps its <main>, unless someone is typing in a form.
(() => {
  "use strict";
  if (!window.EventSource) return;
  const status = document.getElementById("live");
  const source = new EventSource("/live");
  let busy = false;
  async function refresh() {
    const active = document.activeElement;
    if (busy || (active && active.closest && active.closest("form") && active.tagName !== "BUTTON")) return;
    busy = true;
    try {
      const response = await fetch(window.location.href, { credentials: "same-origin" });
      if (!response.ok) return;
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = doc.querySelector("main");
      const current = document.querySelector("main");
      if (fresh && current) current.replaceWith(fresh);
    } finally {
      busy = false;
    }
  }
  source.addEventListener("change", refresh);
  source.addEventListener("open", () => { if (status) status.textContent = "live"; });
  source.addEventListener("error", () => { if (status) status.textContent = "reconnecting…"; });
})();
