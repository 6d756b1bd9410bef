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
  // an obligation of this office's area gone overdue: on top of the page, with its case
  const overdue = document.getElementById("overdue-feed");
  source.addEventListener("overdue", (event) => {
    const o = JSON.parse(event.data);
    if (!overdue || overdue.querySelector(`li[data-obligation="${o.id}"]`)) return;
    const item = document.createElement("li");
    item.dataset.obligation = o.id;
    item.className = "fresh error";
    const a = document.createElement("a");
    a.href = "/cases/" + o.case_id;
    a.textContent = "#" + o.case_id;
    item.append(`${o.time} ${o.text}: ${o.kind_text} · ${o.node} · ${o.person} ${o.plate} (${o.deadline}) `, a);
    overdue.prepend(item);
    overdue.hidden = false;
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

// A file import (pre-registrations, test results): the file goes up, its lines are checked (a progress
// bar), then the outcome: what was imported (and what matched nothing), or every bad line (and nothing
// imported).
(function () {
  const form = document.getElementById("registrations-form") || document.getElementById("results-form");
  if (!form) return;
  const bar = document.getElementById("import-progress");
  const state = document.getElementById("import-state");
  const errors = document.getElementById("import-errors");
  const words = form.dataset;
  // The button starts disabled: clicked before this script ran, the form would submit itself and the
  // file would be lost in a page reload. It stays disabled where the file input is (no key to import).
  form.querySelector("button").disabled = form.querySelector("input[type=file]").disabled;
  const show = (event) => {
    if (event.reading !== undefined) state.textContent = words.reading;
    if (event.read !== undefined) { bar.max = event.total; bar.value = event.read; state.textContent = `${words.reading} ${event.read} / ${event.total}`; }
    if (event.checked !== undefined) { bar.max = event.total; bar.value = event.checked; state.textContent = `${words.checked} ${event.checked} / ${event.total}`; }
    if (event.pushing !== undefined) state.textContent = words.pushing;
    if (event.matching !== undefined) state.textContent = words.matching;
    if (event.done) {
      state.textContent = event.done.message || `${words.done}: ${event.done.added + event.done.replaced} (${event.done.version})`;
      state.className = "ok";
      errors.className = "";
      errors.replaceChildren(...(event.done.unmatched || []).map((u) => Object.assign(document.createElement("li"), { textContent: `${words.bad} ${u.line}: ${u.person} ${u.why}` })));
    }
    if (event.error) {
      state.textContent = event.error;
      state.className = "error";
      errors.replaceChildren(...(event.errors || []).map((e) => Object.assign(document.createElement("li"), { textContent: `${words.bad} ${e.line}: ${e.error}` })));
    }
  };
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    const body = new FormData(form);
    bar.hidden = false; bar.value = 0; state.className = ""; errors.className = "error"; errors.replaceChildren();
    const answer = await fetch(words.import || "/api/registrations/file?progress=true", { method: "POST", body, headers: { "X-CSRF-Token": words.csrf } });
    if (!answer.ok) {
      const detail = (await answer.json().catch(() => ({}))).detail || answer.statusText;
      show(typeof detail === "string" ? { error: detail } : detail.error ? detail : { error: JSON.stringify(detail) });
      return;
    }
    await eachLine(answer, show);
  });
})();

// An export: a province's file takes seconds to build, so the server builds it in the background
// (Prefer: respond-async); a progress bar while it does, then the link to download it.
(function () {
  const box = document.getElementById("export-job");
  if (!box) return;
  const bar = box.querySelector("progress");
  const state = document.getElementById("export-state");
  const link = document.getElementById("export-download");
  const words = box.dataset;
  const show = (job) => {
    bar.max = job.total || 1; bar.value = job.done || 0;
    if (job.state === "running") state.textContent = job.total ? `${words.building} ${job.done} / ${job.total}` : words.building;
    if (job.state === "done") { bar.hidden = true; state.textContent = `${words.ready} ${job.file}`; state.className = "ok"; link.href = job.download; link.hidden = false; }
    if (job.state === "failed") { bar.hidden = true; state.textContent = `${words.failed}: ${job.error}`; state.className = "error"; }
  };
  document.querySelectorAll("a[data-export]").forEach((a) => a.addEventListener("click", async (click) => {
    click.preventDefault();
    box.hidden = false; bar.hidden = false; link.hidden = true; state.className = "";
    show({ state: "running", done: 0, total: 0 });
    const answer = await fetch(a.href, { headers: { Prefer: "respond-async" } });
    const job = await answer.json().catch(() => ({}));
    if (answer.status !== 202) { show({ state: "failed", error: job.detail || job.error || answer.statusText }); return; }
    show(job);
    if (job.state === "running") await eachLine(await fetch(`${job.progress}?follow=true`), show);
  }));
})();

// Each line of JSON of a streamed answer (newline-delimited JSON: an import's or an export's progress).
async function eachLine(answer, each) {
  const reader = answer.body.getReader();
  const text = new TextDecoder();
  let rest = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    rest += text.decode(value, { stream: true });
    const lines = rest.split("\n");
    rest = lines.pop();
    lines.filter((l) => l).forEach((l) => each(JSON.parse(l)));
  }
}
