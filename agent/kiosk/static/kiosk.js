// The kiosk page: renders the station's state (server-sent events) and sends staff actions.
"use strict";

const WORDS = {
  zh: { id: "证件", code: "健康码", temp: "体温", waiting: "等待…", remeasure: "复测", manual: "手工录入",
        vehicle: "车辆登记", override: "改判", followup: "处置：", remeasure_now: "请再测一次体温",
        id_number: "身份证号", name: "姓名", reason: "理由", staff: "改判人（工号或姓名）", plate: "车牌",
        origin: "始发地（行政区划代码）",
        destination: "目的地", destination_code: "目的地区划代码（现场报备）", ok: "确定", cancel: "取消", next_vehicle: "下一辆车", pass: "通行",
        review: "人工核验", deny: "禁止通行", online: "在线", offline: "离线", pending: "待上传",
        outbox_full: "待上传记录接近上限", invalid: "无效", typed: "手工", lang: "EN",
        refused: "本机身份与另一台设备重复，已停止上传（记录保存在本机），请联系部署人员" },
  en: { id: "ID card", code: "Health code", temp: "Temperature", waiting: "Waiting…", remeasure: "Re-measure",
        manual: "Type ID", vehicle: "Vehicle", override: "Override", followup: "Follow-up: ",
        remeasure_now: "Please measure again", id_number: "ID number", name: "Name", reason: "Reason",
        staff: "Overridden by (staff number or name)",
        plate: "Plate", origin: "Origin (region code)", destination: "Destination", destination_code: "Destination code (registers on the spot)", ok: "OK", cancel: "Cancel",
        next_vehicle: "Next vehicle", pass: "Pass", review: "Review", deny: "Deny", online: "Online",
        offline: "Offline", pending: "pending", outbox_full: "Outbox nearly full", invalid: "invalid",
        typed: "typed", lang: "中文",
        refused: "Another box uses this box's identity: not sending (records kept here); call the deployer" },
};
let lang = localStorage.getItem("kiosk-lang") || "zh";
let state = null;
let shownVerdict = null;
let verdictAt = 0;
const $ = (id) => document.getElementById(id);
const w = (key) => WORDS[lang][key];
const say = (words) => words[lang];

function translateStatic() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = w(el.dataset.i18n); });
  $("lang").textContent = w("lang");
}

function beep(decision) {
  // A distinct sound per verdict: one short high tone, two middle tones, one long low tone.
  const plan = { pass: [[880, 0, 0.15]], review: [[660, 0, 0.15], [660, 0.25, 0.15]], deny: [[300, 0, 0.8]] };
  try {
    const ctx = new AudioContext();
    for (const [freq, start, length] of plan[decision]) {
      const osc = ctx.createOscillator();
      osc.frequency.value = freq;
      osc.connect(ctx.destination);
      osc.start(ctx.currentTime + start);
      osc.stop(ctx.currentTime + start + length);
    }
  } catch (e) { /* no audio device: the colour still speaks */ }
}

let spokenRemeasure = false;

function speak(prompt, decision) {
  // The spoken prompt (agent/kiosk/voice.py made the files at set-up); a beep when voice is off or
  // the file cannot be played.
  const voice = $("voice");
  if (!state.voice) { if (decision) beep(decision); return; }
  voice.onerror = () => { if (decision) beep(decision); };
  voice.src = `/static/voice/${prompt}.wav`;
  voice.play().catch(() => { if (decision) beep(decision); });
}

function person(p) { return p ? `${p.name || ""} ${p.id_masked}${p.typed ? ` (${w("typed")})` : ""}` : ""; }

function render() {
  if (!state) return;
  $("where").textContent = `${state.site} · ${state.device} · ${state.kind}`;
  const link = state.link;
  const linkEl = $("link");
  linkEl.className = link.online ? "online" : "offline";
  if (link.outbox_warning) linkEl.classList.add("offline", "warning");
  if (link.refused) linkEl.classList.add("offline", "warning");
  linkEl.textContent = (link.refused ? w("refused") : link.online ? w("online") : w("offline")) +
    (link.outbox_depth ? ` · ${w("pending")} ${link.outbox_depth}` : "") + (link.outbox_warning ? ` · ${w("outbox_full")}` : "");
  $("error").hidden = !state.error;
  $("error").textContent = state.error || "";

  const v = state.verdict;
  if (v && v.id !== shownVerdict) {
    shownVerdict = v.id; verdictAt = Date.now();
    speak(v.decision === "pass" ? "pass" : "manual", v.decision);
  }
  const showVerdict = v && !state.passage && Date.now() - verdictAt < 15000;
  $("verdict").hidden = !showVerdict;
  $("passage").hidden = showVerdict;
  $("btn-override").disabled = !v;
  if (showVerdict) {
    $("verdict").className = v.decision;
    $("decision").textContent = say(v.decision_words);
    $("who").textContent = person(v.person);
    $("temp").textContent = v.body_c != null ? `${v.body_c.toFixed(1)} °C` : "";
    $("registered").hidden = !v.registered;
    $("registered").textContent = v.registered ? say(v.registered) : "";
    $("reasons").replaceChildren(...v.reasons.map((r) => Object.assign(document.createElement("li"), { textContent: say(r) })));
    $("followup").replaceChildren(...v.follow_up.map((f) => Object.assign(document.createElement("li"), { textContent: say(f) })));
    $("followup-box").hidden = v.follow_up.length === 0;
  }
  const p = state.passage || { temps: [], missing: [] };
  $("id-value").textContent = p.person ? person(p.person) : w("waiting");
  $("id-value").parentElement.classList.toggle("done", !!p.person);
  const code = p.code;
  $("code-value").replaceChildren(code
    ? Object.assign(document.createElement("span"), { className: code.colour, textContent: `${say(code.colour_words)} · ${say(code.source_words)}` })
    : w("waiting"));
  $("code-value").parentElement.classList.toggle("done", !!code);
  $("temp-value").textContent = p.temps.length
    ? p.temps.map((t) => (t.valid ? `${t.body_c.toFixed(1)} °C` : w("invalid"))).join(" → ") : w("waiting");
  $("temp-value").parentElement.classList.toggle("done", p.temps.length > 0 && !p.remeasure);
  $("remeasure-banner").hidden = !p.remeasure;
  if (p.remeasure && !spokenRemeasure) speak("remeasure", null);
  spokenRemeasure = !!p.remeasure;
  $("btn-vehicle").hidden = state.kind !== "traffic";
  const car = state.vehicle;
  $("vehicle-now").textContent = car ? [car.plate, car.origin, car.destination, car.destination_code].filter(Boolean).join(" · ") : "";
}

async function act(method, path, body) {
  const response = await fetch(path, {
    method, headers: { "Content-Type": "application/json", "X-Kiosk": "1" },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!response.ok) throw new Error((await response.json()).detail || response.statusText);
}

function dialog(id, submit) {
  const dlg = $(id);
  const form = dlg.querySelector("form");
  const error = form.querySelector(".form-error");
  form.addEventListener("submit", async (event) => {
    const choice = event.submitter ? event.submitter.value : "ok";
    if (choice === "cancel") return;
    event.preventDefault();
    try {
      await submit(Object.fromEntries(new FormData(form)), choice);
      dlg.close();
    } catch (e) { error.textContent = e.message; }
  });
  return () => { form.reset(); error.textContent = ""; dlg.showModal(); };
}

const openManual = dialog("dlg-manual", (data) => act("POST", "/api/manual-id", data));
const overrideDialog = dialog("dlg-override", async (data) => {
  await act("POST", "/api/override", { ...data, verdict_id: state.verdict.id });
  localStorage.setItem("kiosk-staff", data.staff);  // the staff member on shift, offered next time
});
const openOverride = () => {
  overrideDialog();
  $("dlg-override").querySelector("[name=staff]").value = localStorage.getItem("kiosk-staff") || "";
};
const openVehicle = dialog("dlg-vehicle", (data, choice) =>
  choice === "clear" ? act("DELETE", "/api/vehicle") : act("POST", "/api/vehicle", data));

$("btn-manual").onclick = openManual;
$("btn-override").onclick = openOverride;
$("btn-vehicle").onclick = openVehicle;
$("btn-remeasure").onclick = () => act("POST", "/api/remeasure");
$("lang").onclick = () => { lang = lang === "zh" ? "en" : "zh"; localStorage.setItem("kiosk-lang", lang); translateStatic(); render(); };

translateStatic();
const events = new EventSource("/events");
events.onmessage = (event) => { state = JSON.parse(event.data); render(); };
events.onerror = () => { $("link").className = "offline"; $("link").textContent = "…"; };
setInterval(render, 1000);  // lets a shown verdict give way to the passage view after its time
