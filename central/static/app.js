// The live feed: flagged arrivals pushed by the server (server-sent events), newest on top.
(function () {
  const table = document.getElementById("feed");
  if (!table) return;
  const body = table.querySelector("tbody");
  const state = document.getElementById("feed-state");
  const words = table.dataset;
  const seen = new Set(Array.from(body.querySelectorAll("tr[data-id]")).map((r) => r.dataset.id));
  const cell = (text, cls) => {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "—" : String(text);
    if (cls) td.className = cls;
    return td;
  };
  const source = new EventSource("/api/feed");
  source.onopen = () => { state.textContent = words.connected; state.className = "ok"; };
  source.onerror = () => { state.textContent = words.disconnected; state.className = "error"; };
  source.addEventListener("flagged", (event) => {
    const v = JSON.parse(event.data);
    if (seen.has(v.id)) return;
    seen.add(v.id);
    const row = document.createElement("tr");
    row.dataset.id = v.id;
    row.className = "fresh";
    row.append(cell(v.time), cell(v.site), cell(v.device), cell(v.person), cell(v.plate), cell(v.colour_text),
               cell(v.body_c), cell(v.decision_text, v.decision), cell(v.reasons));
    const link = document.createElement("td");
    if (v.case_id) {
      const a = document.createElement("a");
      a.href = "/cases/" + v.case_id;
      a.textContent = "#" + v.case_id;
      link.append(a);
    }
    row.append(link);
    body.prepend(row);
    const empty = document.getElementById("feed-empty");
    if (empty) empty.remove();
  });
})();

// The header figures on the feed page, refreshed every 10 s.
(function () {
  const stored = document.getElementById("stored");
  if (!stored) return;
  const refresh = () => fetch("/api/counts").then((r) => (r.ok ? r.json() : null)).then((c) => {
    if (!c) return;
    stored.textContent = c.stored;
    document.getElementById("open-cases").textContent = c.open_cases;
    document.getElementById("dead-letters").textContent = c.dead_letters;
  }).catch(() => {});
  setInterval(refresh, 10000);
})();
