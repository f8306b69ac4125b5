// The dashboard: plain DOM and hand-drawn SVG, no build step. Numbers come from
// /api/dashboard/<tab> as the signed-in user may see them; every chart element carries its
// value in data-* attributes, so a browser test can compare what is drawn with the API.
"use strict";
const REFRESH_MS = 3000;  // the issue asks for under 5 s
const COLORS = ["#0b3d62", "#2f7ab9", "#f2b134", "#2e9e4f", "#d64541", "#8e5ea2", "#3cba9f"];
const TITLES = { fraud: "Fraud", risk: "Risk", data: "Data" };
let token = sessionStorage.getItem("gbank-token");
let current = null, timer = null, refreshes = 0;

const $ = (sel) => document.querySelector(sel);
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const num = (v) => (typeof v === "number" ? v : null);
const fmt = (v) => (num(v) === null ? (v === null || v === undefined ? "–" : "masked")
  : Math.abs(v) >= 1000 ? v.toLocaleString("en", { maximumFractionDigits: 0 })
  : v.toLocaleString("en", { maximumFractionDigits: 4 }));

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}), ...(token ? { Authorization: `Bearer ${token}` } : {}) };
  const r = await fetch(path, { ...options, headers });
  const body = await r.json();
  if (!r.ok) throw Object.assign(new Error(body.message || r.statusText), { status: r.status });
  return body;
}

$("#login").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("#login-error").textContent = "";
  try {
    const s = await api("/api/login", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: $("#user").value, password: $("#password").value, code: $("#code").value }),
    });
    token = s.token;
    sessionStorage.setItem("gbank-token", token);
    await start();
  } catch (err) { $("#login-error").textContent = err.message; }
});

async function start() {
  let me;
  try { me = await api("/api/me"); } catch (err) { token = null; sessionStorage.removeItem("gbank-token"); return; }
  $("#login").hidden = true;
  $("#view").hidden = false;
  $("#who").textContent = `${me.user} (${me.role})`;
  $("#who").dataset.role = me.role;
  $("#tabs").innerHTML = me.tabs.map((t) => `<button id="tab-${t}" data-tab="${t}">${TITLES[t]}</button>`).join("");
  $("#tabs").querySelectorAll("button").forEach((b) => b.addEventListener("click", () => open(b.dataset.tab)));
  if (me.tabs.length) open(me.tabs[0]);
  else $("#view").innerHTML = `<p class="muted">Your role may not open any dashboard tab.</p>`;
}

function open(tab) {
  current = tab;
  document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === tab));
  clearInterval(timer);
  refresh();
  timer = setInterval(refresh, REFRESH_MS);
}

let busy = false;  // a slow answer must not pile requests up behind it

async function refresh() {
  if (busy) return;
  busy = true;
  const tab = current;
  try {
    const data = await api(`/api/dashboard/${tab}`);
    if (tab !== current) return;
    $("#view").innerHTML = `<div class="grid" id="panel-${tab}" data-tab="${tab}">${RENDER[tab](data)}</div>`;
    refreshes += 1;
    $("#updated").textContent = `updated ${data.generated_at}`;
    $("#updated").dataset.refreshes = refreshes;
    $("#updated").dataset.tab = tab;
    $("#error").textContent = "";
  } catch (err) {
    $("#error").textContent = err.message;
    if (err.status === 401) { clearInterval(timer); token = null; sessionStorage.removeItem("gbank-token"); location.reload(); }
  } finally {
    busy = false;
    if (tab !== current) setTimeout(refresh, 0);  // the tab changed while this one loaded
  }
}

const card = (id, title, body, note = "") =>
  `<div class="card" id="card-${id}"><h3>${esc(title)}</h3>${body}${note ? `<p class="muted">${esc(note)}</p>` : ""}</div>`;
const denied = (p) => (p && p.denied ? `<p class="muted" data-denied="1">Not available to your role: ${esc(p.denied)}</p>` : null);
const empty = (p) => (p && p.note ? `<p class="muted">${esc(p.note)}</p>` : `<p class="muted">No data yet.</p>`);

// A bar chart: items [{label, value}], one <rect class="bar"> each.
function bars(id, items, { width = 420, height = 170 } = {}) {
  if (!items.length) return `<p class="muted">No data yet.</p>`;
  const vals = items.map((i) => num(i.value) ?? 0);
  const max = Math.max(0, ...vals), min = Math.min(0, ...vals), span = max - min || 1;
  const pad = 22, w = (width - pad) / items.length;
  const y = (v) => 8 + (height - 30) * (max - v) / span;
  const rects = items.map((it, k) => {
    const v = vals[k], top = Math.min(y(v), y(0)), h = Math.max(1, Math.abs(y(v) - y(0)));
    return `<rect class="bar${v < 0 ? " neg" : ""}" x="${pad + k * w + 1}" y="${top}" width="${Math.max(1, w - 2)}" height="${h}"
      data-label="${esc(it.label)}" data-value="${esc(it.value)}"><title>${esc(it.label)}: ${fmt(it.value)}</title></rect>` +
      (items.length <= 12 ? `<text x="${pad + k * w + w / 2}" y="${height - 4}" text-anchor="middle">${esc(it.short ?? it.label)}</text>` : "");
  }).join("");
  return `<svg id="chart-${id}" data-chart="${id}" width="${width}" height="${height}">
    <text x="0" y="12">${fmt(max)}</text><text x="0" y="${y(0)}">0</text>
    <line x1="${pad}" x2="${width}" y1="${y(0)}" y2="${y(0)}" stroke="#99a"/>${rects}</svg>`;
}

// A line chart: series {name: [{x, value}]}, one <path class="series"> and points each.
function lines(id, series, { width = 420, height = 190 } = {}) {
  const names = Object.keys(series);
  const xs = [...new Set(names.flatMap((n) => series[n].map((p) => p.x)))].sort();
  const all = names.flatMap((n) => series[n].map((p) => num(p.value))).filter((v) => v !== null);
  if (!xs.length || !all.length) return `<p class="muted">No numbers to draw (masked for your role, or none yet).</p>`;
  const max = Math.max(...all), min = Math.min(0, ...all), span = max - min || 1, pad = 40;
  const X = (x) => pad + (width - pad - 10) * (xs.length === 1 ? 0.5 : xs.indexOf(x) / (xs.length - 1));
  const Y = (v) => 8 + (height - 40) * (max - v) / span;
  const paths = names.map((n, k) => {
    const pts = series[n].filter((p) => num(p.value) !== null);
    const d = pts.map((p, i) => `${i ? "L" : "M"}${X(p.x).toFixed(1)},${Y(p.value).toFixed(1)}`).join(" ");
    const dots = pts.map((p) => `<circle class="point" cx="${X(p.x)}" cy="${Y(p.value)}" r="3" fill="${COLORS[k % COLORS.length]}"
      data-series="${esc(n)}" data-label="${esc(p.x)}" data-value="${p.value}"><title>${esc(n)} ${esc(p.x)}: ${fmt(p.value)}</title></circle>`).join("");
    return `<path class="series" d="${d}" stroke="${COLORS[k % COLORS.length]}" data-series="${esc(n)}"/>${dots}
      <text x="${pad + k * 70}" y="${height - 4}" fill="${COLORS[k % COLORS.length]}">■ ${esc(n)}</text>`;
  }).join("");
  return `<svg id="chart-${id}" data-chart="${id}" width="${width}" height="${height}">
    <text x="0" y="12">${fmt(max)}</text><text x="0" y="${Y(min)}">${fmt(min)}</text>
    <text x="${pad}" y="${height - 18}">${esc(xs[0])}</text><text x="${width - 70}" y="${height - 18}">${esc(xs[xs.length - 1])}</text>${paths}</svg>`;
}

function table(id, rows, cols) {
  if (!rows.length) return `<p class="muted">No data yet.</p>`;
  const head = cols.map(([, t]) => `<th>${esc(t)}</th>`).join("");
  const body = rows.map((r) => `<tr>${cols.map(([k, , f]) => `<td data-col="${k}">${f ? f(r[k], r) : esc(fmt2(r[k]))}</td>`).join("")}</tr>`).join("");
  return `<table id="table-${id}" data-table="${id}"><tr>${head}</tr>${body}</table>`;
}
const fmt2 = (v) => (typeof v === "number" ? fmt(v) : v ?? "–");
const light = (zone) => `<span class="light ${esc(zone)}" data-zone="${esc(zone)}"></span> ${esc(zone)}`;
const passed = (v) => `<span class="${v ? "ok" : "bad"}" data-passed="${v}">${v ? "pass" : "FAIL"}</span>`;
const status = (v) => `<span class="${v === "succeeded" ? "ok" : v === "failed" ? "bad" : ""}" data-status="${esc(v)}">${esc(v)}</span>`;

const RENDER = {
  fraud(d) {
    const p = d.precision, q = d.review_queue;
    const src = d.source.error ? `Source unavailable: ${d.source.error}` :
      `Alerts: topic ${d.source.alerts_topic}; scores: ${d.source.scores_topic}; outcomes: ${d.source.labels}`;
    return [
      card("alerts", "Alerts per hour (UTC)", bars("alerts_per_hour",
        d.alerts_per_hour.map((h) => ({ label: h.hour, short: h.hour.slice(11, 13), value: h.alerts }))), src),
      card("model", "Model version live",
        `<div class="big" data-metric="model_version">${esc(d.model.version ?? "none")}</div>`, d.model.source),
      card("precision", "Precision of reviewed alerts",
        `<div class="big" data-metric="precision" data-value="${p.value ?? ""}">${p.value === null ? "–" : (100 * p.value).toFixed(1) + " %"}</div>`,
        `${p.fraud} of ${p.reviewed} reviewed alerts were fraud`),
      card("queue", "Review queue",
        `<div class="big" data-metric="review_queue" data-value="${q.size}">${q.size}</div>` +
        table("review_queue", q.top, [["transaction_id", "transaction"], ["fraud_probability", "p(fraud)"]]),
        "alerts to review whose transaction has no outcome yet"),
      card("scores", "Score distribution", bars("score_distribution",
        d.score_distribution.map((b) => ({ label: `${b.low.toFixed(1)}-${b.high.toFixed(1)}`, short: b.low.toFixed(1), value: b.count })))),
    ].join("");
  },
  risk(d) {
    let trend = denied(d.var_trend);
    if (!trend) {
      const byDesk = (key) => {
        const s = {};
        for (const r of d.var_trend.rows) (s[r.desk] ||= []).push({ x: r.as_of, value: r[key] });
        return s;
      };
      trend = d.var_trend.rows.length ? lines("var_trend", byDesk("var")) + lines("es_trend", byDesk("es")) : empty(d.var_trend);
    }
    const stress = denied(d.stress) || (d.stress.rows.length ? bars("stress",
      d.stress.rows.map((r) => ({ label: r.scenario, short: r.scenario.slice(0, 10), value: r.pnl }))) : empty(d.stress));
    const bt = denied(d.backtest) || (d.backtest.rows.length ? table("backtest", d.backtest.rows,
      [["desk", "desk"], ["method", "method"], ["confidence", "conf."], ["exceptions", "exceptions"], ["days", "days"], ["zone", "traffic light", light]]) : empty(d.backtest));
    return [
      card("var", "VaR (top) and ES (bottom): historical, 99 %, 1 day", trend),
      card("stress", `Latest stress results (firm P&L${d.stress.rows?.[0] ? ", " + d.stress.rows[0].as_of : ""})`, stress),
      card("backtest", "Backtesting traffic light (latest)", bt),
    ].join("");
  },
  data(d) {
    const q = denied(d.quality);
    const fresh = q || bars("freshness", d.quality.rows.filter((r) => r.check === "freshness")
      .map((r) => ({ label: r.table, short: r.table.split("/").pop().slice(0, 10), value: r.metric })));
    const checks = q || table("quality", d.quality.rows, [["table", "table"], ["check", "check"], ["passed", "result", passed], ["metric", "metric"], ["threshold", "threshold"]]);
    const runs = denied(d.dag_runs) || table("dag_runs", d.dag_runs.rows,
      [["business_date", "date"], ["status", "status", status], ["done", "steps done"], ["steps", "steps"], ["failed", "failed"], ["ended_at", "ended (UTC)", (v) => esc(v ? v.slice(0, 16).replace("T", " ") : "–")]]);
    return [
      card("freshness", "Freshness: hours since newest data", fresh),
      card("runs", "Last daily DAG runs", runs),
      card("quality", "Quality checks per table (latest)", checks),
    ].join("");
  },
};

if (token) start();
