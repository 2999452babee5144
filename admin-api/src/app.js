"use strict";
const S = { access: sessionStorage.getItem("access"), refresh: sessionStorage.getItem("refresh"), me: null,
  candles: [], positions: new Map(), orders: new Map(), fills: [], pnl: new Map(), kill: {}, ws: null, lat: null };
const $ = (id) => document.getElementById(id);
const fmt = (x, d = 2) => (x == null || isNaN(x)) ? "" : Number(x).toLocaleString("en-IN", { minimumFractionDigits: d, maximumFractionDigits: d });
const cls = (x) => x > 0 ? "pos" : x < 0 ? "neg" : "";
function esc(s) { return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])); }

async function api(method, path, body) {
  const h = { "Content-Type": "application/json" };
  if (S.access) h.Authorization = "Bearer " + S.access;
  let r = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status === 401 && S.refresh && !path.startsWith("/api/auth/")) {
    if (await refresh()) return api(method, path, body);
  }
  const data = await r.json().catch(() => null);
  if (!r.ok) throw new Error((data && data.error) || ("HTTP " + r.status));
  return data;
}
async function refresh() {
  const r = await fetch("/api/auth/refresh", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh_token: S.refresh }) });
  if (!r.ok) { logout(false); return false; }
  setTokens(await r.json());
  return true;
}
function setTokens(t) { S.access = t.access_token; S.refresh = t.refresh_token; sessionStorage.setItem("access", S.access); sessionStorage.setItem("refresh", S.refresh); }

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("login-error").textContent = "";
  const body = { username: $("username").value, password: $("password").value };
  if ($("totp").value) body.totp = $("totp").value;
  try { setTokens(await api("POST", "/api/auth/login", body)); await start(); }
  // The server does not say whether a TOTP code was missing (that would confirm the password):
  // after any refusal the code field is offered, for users who have TOTP.
  catch (err) { $("totp-row").classList.remove("hidden"); $("login-error").textContent = err.message; }
});
$("logout-btn").addEventListener("click", () => logout(true));
async function logout(server) {
  if (server && S.refresh) { try { await api("POST", "/api/auth/logout", { refresh_token: S.refresh }); } catch (e) {} }
  S.access = S.refresh = null; sessionStorage.clear();
  if (S.ws) S.ws.close();
  $("app").classList.add("hidden"); $("login").classList.remove("hidden");
}

async function start() {
  S.me = await api("GET", "/api/me");
  $("login").classList.add("hidden"); $("app").classList.remove("hidden");
  $("whoami").textContent = S.me.username + " (" + S.me.role + ")";
  const admin = S.me.role === "admin";
  $("global-kill-btn").classList.toggle("hidden", !admin);
  $("users-section").classList.toggle("hidden", !admin);
  $("limits-save").classList.toggle("hidden", !admin);
  const [instr, accounts, strategies] = await Promise.all([api("GET", "/api/instruments"), api("GET", "/api/accounts"), api("GET", "/api/strategies")]);
  const traded = [...new Set(strategies.map((s) => s.symbol))];
  const syms = traded.concat(instr.map((i) => i.symbol).filter((s) => !traded.includes(s)));
  $("symbol").innerHTML = syms.map((s) => `<option>${esc(s)}</option>`).join("");
  $("o-symbol").innerHTML = $("symbol").innerHTML;
  const accOpts = accounts.map((a) => `<option>${esc(a.name)}</option>`).join("");
  $("o-account").innerHTML = accOpts; $("limits-account").innerHTML = accOpts;
  renderStrategies(strategies);
  await Promise.all([loadCandles(), loadTables(), loadLimits(), loadBrokers(), loadFeed(), loadReports(), admin ? loadUsers() : null]);
  connect();
  setInterval(loadTables, 5000);
  setInterval(() => { loadBrokers(); loadFeed(); }, 3000);
  setInterval(() => refresh(), 10 * 60 * 1000);
}

async function loadTables() {
  const [pos, orders, fills, pnl, ks, lat] = await Promise.all([api("GET", "/api/positions"), api("GET", "/api/orders?status=open"),
    api("GET", "/api/fills?limit=50"), api("GET", "/api/pnl"), api("GET", "/api/kill-switch"), api("GET", "/api/latency")]);
  S.positions = new Map(pos.map((p) => [p.account + "|" + p.symbol + "|" + p.product, p]));
  S.orders = new Map(orders.map((o) => [o.id, o]));
  S.fills = fills;
  S.pnl = new Map(pnl.map((p) => [p.account, p]));
  S.kill = ks; S.lat = lat;
  renderPositions(); renderOrders(); renderFills(); renderPnl(); renderLatency();
}

function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const sym = encodeURIComponent($("symbol").value);
  // The token travels in the subprotocol list, never in the URL (which proxies and logs keep).
  const ws = new WebSocket(`${proto}//${location.host}/api/ws`, ["dalal", "bearer." + S.access]);
  S.ws = ws;
  ws.onopen = () => { $("status").textContent = "live"; $("status").className = "live"; };
  ws.onclose = () => { $("status").textContent = "offline"; $("status").className = "down"; if (S.access) setTimeout(connect, 2000); };
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    switch (m.type) {
      case "candle": if (m.candle.symbol === $("symbol").value && m.candle.timeframe === $("timeframe").value) { pushCandle(m.candle); drawChart(); } break;
      case "tick": if (m.symbol === $("symbol").value) $("last-price").textContent = "last " + fmt(m.price); break;
      case "order": if (["OPEN", "PENDING", "TRIGGERED", "PARTIALLY_FILLED"].includes(m.order.status)) S.orders.set(m.order.id, m.order); else S.orders.delete(m.order.id); renderOrders(); break;
      case "fill": S.fills.unshift(m.fill); S.fills.length = Math.min(S.fills.length, 50); renderFills(); break;
      case "position": S.positions.set(m.position.account + "|" + m.position.symbol + "|" + m.position.product, m.position); renderPositions(); break;
      case "pnl": { const p = S.pnl.get(m.account) || { account: m.account }; p.realized = m.realized; p.unrealized = m.unrealized; p.charges = m.charges; p.net = m.net; S.pnl.set(m.account, p); renderPnl(); break; }
      case "latency": if (S.lat) { S.lat.tick_to_order = m.tick_to_order; renderLatencyText(); } break;
      case "lagged": console.warn("missed", m.missed, "updates"); loadTables(); break;
    }
  };
}

function pushCandle(c) {
  const last = S.candles[S.candles.length - 1];
  if (last && last.start_ns === c.start_ns) S.candles[S.candles.length - 1] = c; else S.candles.push(c);
  if (S.candles.length > 500) S.candles.shift();
}
async function loadCandles() {
  S.candles = await api("GET", `/api/candles?symbol=${encodeURIComponent($("symbol").value)}&timeframe=${$("timeframe").value}&limit=500`);
  drawChart();
}
$("symbol").addEventListener("change", loadCandles);
$("timeframe").addEventListener("change", loadCandles);

function drawChart() {
  const cv = $("chart"), g = cv.getContext("2d"), W = cv.width, H = cv.height;
  g.fillStyle = "#171e26"; g.fillRect(0, 0, W, H);
  const cs = S.candles.slice(-120);
  cv.dataset.candles = String(cs.length);
  if (!cs.length) { g.fillStyle = "#7d8894"; g.fillText("no bars yet", 10, 20); return; }
  let lo = Math.min(...cs.map((c) => c.low)), hi = Math.max(...cs.map((c) => c.high));
  if (hi === lo) { hi += 1; lo -= 1; }
  const pad = 60, w = (W - pad) / cs.length, y = (p) => 10 + (H - 30) * (hi - p) / (hi - lo);
  g.strokeStyle = "#26303b"; g.fillStyle = "#7d8894"; g.font = "11px system-ui";
  for (let i = 0; i <= 4; i++) { const p = lo + (hi - lo) * i / 4; g.beginPath(); g.moveTo(0, y(p)); g.lineTo(W - pad, y(p)); g.stroke(); g.fillText(fmt(p), W - pad + 4, y(p) + 4); }
  cs.forEach((c, i) => {
    const x = i * w + w / 2, up = c.close >= c.open;
    g.strokeStyle = g.fillStyle = up ? "#26a69a" : "#ef5350";
    g.beginPath(); g.moveTo(x, y(c.high)); g.lineTo(x, y(c.low)); g.stroke();
    const top = y(Math.max(c.open, c.close)), bh = Math.max(1, Math.abs(y(c.open) - y(c.close)));
    g.fillRect(x - Math.max(1, w * 0.35), top, Math.max(2, w * 0.7), bh);
  });
  $("last-price").textContent = "last " + fmt(cs[cs.length - 1].close);
}

function renderPositions() {
  const rows = [...S.positions.values()].filter((p) => p.net_qty !== 0 || p.realized !== 0);
  $("positions").querySelector("tbody").innerHTML = rows.map((p) => `<tr data-key="${esc(p.account + "|" + p.symbol)}"><td>${esc(p.account)}</td><td>${esc(p.symbol)}</td><td>${esc(p.product)}</td>
    <td class="${cls(p.net_qty)}">${p.net_qty}</td><td>${fmt(p.avg_price)}</td><td>${fmt(p.last_price)}</td><td class="${cls(p.realized)}">${fmt(p.realized)}</td><td class="${cls(p.unrealized)}">${fmt(p.unrealized)}</td></tr>`).join("");
  $("positions").dataset.updates = String(Number($("positions").dataset.updates || 0) + 1);
}
function renderOrders() {
  const rows = [...S.orders.values()].sort((a, b) => b.id - a.id).slice(0, 200);
  const canTrade = (a) => S.me.role === "admin" || (S.me.role === "trader" && S.me.accounts.includes(a));
  $("orders").querySelector("tbody").innerHTML = rows.map((o) => `<tr><td>${o.id}</td><td>${esc(o.account)}</td><td>${esc(o.symbol)}</td><td>${o.side}</td><td>${o.qty}</td><td>${o.order_type}</td><td>${fmt(o.price)}</td><td>${o.status}</td><td>${o.filled}</td>
    <td>${canTrade(o.account) ? `<button class="danger" data-cancel="${o.id}">Cancel</button>` : ""}</td></tr>`).join("");
}
$("orders").addEventListener("click", async (e) => {
  const id = e.target.dataset.cancel; if (!id) return;
  if (!confirm("Cancel order " + id + "?")) return;
  try { await api("DELETE", "/api/orders/" + id); } catch (err) { alert(err.message); }
});
function renderFills() {
  $("fills").querySelector("tbody").innerHTML = S.fills.map((f) => `<tr><td>${f.id}</td><td>${f.order}</td><td>${esc(f.account)}</td><td>${esc(f.symbol)}</td><td>${f.side}</td><td>${f.qty}</td><td>${fmt(f.price)}</td><td>${fmt(f.charges)}</td></tr>`).join("");
}
function renderPnl() {
  const ks = new Map((S.kill.accounts || []).map((k) => [k.account, k.engaged]));
  const canTrade = (a) => S.me.role === "admin" || (S.me.role === "trader" && S.me.accounts.includes(a));
  $("pnl").querySelector("tbody").innerHTML = [...S.pnl.values()].map((p) => {
    const on = ks.get(p.account);
    const btn = canTrade(p.account) ? `<button id="kill-${esc(p.account)}" class="${on ? "ok" : "danger"}" data-kill="${esc(p.account)}" data-engaged="${on ? 1 : 0}">${on ? "Reset" : "Trip"}</button>` : "";
    return `<tr><td>${esc(p.account)}</td><td class="${cls(p.realized)}">${fmt(p.realized)}</td><td class="${cls(p.unrealized)}">${fmt(p.unrealized)}</td><td>${fmt(p.charges)}</td><td class="${cls(p.net)}">${fmt(p.net)}</td>
      <td><span class="kill-state" id="kill-state-${esc(p.account)}">${on ? "ENGAGED" : "off"}</span> ${btn}</td></tr>`;
  }).join("");
  $("global-kill-state").textContent = S.kill.global ? "GLOBAL KILL SWITCH ENGAGED" : "";
  $("global-kill-btn").textContent = S.kill.global ? "Reset global kill switch" : "Trip global kill switch";
}
async function setKill(scope, engaged) {
  if (!confirm((engaged ? "Trip" : "Reset") + " the kill switch for " + scope + "?")) return;
  try { await api("POST", "/api/kill-switch", { scope, engaged }); S.kill = await api("GET", "/api/kill-switch"); renderPnl(); }
  catch (err) { alert(err.message); }
}
$("pnl").addEventListener("click", (e) => { const a = e.target.dataset.kill; if (a) setKill(a, e.target.dataset.engaged !== "1"); });
$("global-kill-btn").addEventListener("click", () => setKill("global", !S.kill.global));

function renderLatencyText() {
  const t = S.lat.tick_to_order;
  $("latency-text").textContent = t.count ? `p50 ${(t.p50_ns / 1000).toFixed(1)}µs · p99 ${(t.p99_ns / 1000).toFixed(1)}µs · p99.9 ${(t.p999_ns / 1000).toFixed(1)}µs · max ${(t.max_ns / 1000).toFixed(1)}µs · n=${t.count}` : "no samples yet";
}
function renderLatency() {
  renderLatencyText();
  const cv = $("latency"), g = cv.getContext("2d"), W = cv.width, H = cv.height, b = S.lat.histogram || [];
  g.fillStyle = "#171e26"; g.fillRect(0, 0, W, H);
  if (!b.length) return;
  const max = Math.max(...b.map((x) => x.share)), w = W / b.length;
  g.font = "10px system-ui";
  b.forEach((x, i) => {
    const h = (H - 20) * x.share / max;
    g.fillStyle = "#4f8cff"; g.fillRect(i * w + 1, H - 14 - h, w - 2, h);
    g.fillStyle = "#7d8894"; const us = x.le_ns / 1000; g.fillText(us >= 1 ? us.toFixed(0) + "µ" : x.le_ns + "n", i * w + 1, H - 2);
  });
}

function renderStrategies(list) {
  const canTrade = (a) => S.me.role === "admin" || (S.me.role === "trader" && S.me.accounts.includes(a));
  $("strategies").querySelector("tbody").innerHTML = list.map((s) => `<tr><td>${s.id}</td><td>${esc(s.account)}</td><td>${esc(s.symbol)}</td><td>${esc(s.kind)} ${esc(JSON.stringify(Object.assign({qty: s.qty}, s.params)))}</td><td>${esc(s.timeframe)}</td>
    <td>${canTrade(s.account) ? `<button data-strat="${s.id}" data-act="stop" class="danger">Stop</button> <button data-strat="${s.id}" data-act="start">Start</button> <button data-strat="${s.id}" data-act="params" data-current="${esc(JSON.stringify(Object.assign({qty: s.qty}, s.params)))}">Params</button>` : ""}</td></tr>`).join("");
}
$("strategies").addEventListener("click", async (e) => {
  const id = e.target.dataset.strat; if (!id) return;
  try {
    if (e.target.dataset.act === "params") {
      const text = prompt("New parameters for strategy " + id + " (JSON, only what changes)", e.target.dataset.current);
      if (text === null) return;
      let body;
      try { body = JSON.parse(text); } catch (_) { $("strategy-msg").textContent = "not valid JSON"; return; }
      await api("PATCH", `/api/strategies/${id}`, body);
    } else {
      if (!confirm(e.target.dataset.act + " strategy " + id + "?")) return;
      await api("POST", `/api/strategies/${id}/${e.target.dataset.act}`);
    }
    $("strategy-msg").textContent = "done";
    renderStrategies(await api("GET", "/api/strategies"));
  } catch (err) { $("strategy-msg").textContent = err.message; }
});

// Broker logins and their sessions, as their gateways report them (never a secret).
const when = (ns) => ns ? new Date(ns / 1e6).toLocaleString() : "—";
async function loadBrokers() {
  let list;
  try { list = await api("GET", "/api/brokers"); $("brokers-msg").textContent = ""; }
  catch (err) { $("brokers-msg").textContent = err.message; return; }
  const body = $("brokers").querySelector("tbody");
  body.innerHTML = list.length ? list.map((b) => {
    const s = b.session || {}, h = ["healthy", "expired", "error"].includes(s.health) ? s.health : "error";
    const accounts = b.accounts.map((a) => `${esc(a.name)} (${esc(a.mode)})`).join(", ");
    return `<tr data-login="${esc(b.name)}"><td>${esc(b.name)}</td><td>${esc(b.kind)}</td>
      <td><span class="health health-${h}" id="broker-health-${esc(b.name)}">${h}</span></td><td>${s.requests ?? ""}</td>
      <td class="${s.errors ? "neg" : ""}">${s.errors ?? ""}</td><td>${esc(s.last_error || "")}</td>
      <td>${when(s.last_activity_ns)}</td><td>${when(s.token_expiry_ns)}</td><td>${accounts}</td></tr>`;
  }).join("") : `<tr><td colspan="9">no broker logins in this run</td></tr>`;
  // What the engine made of the brokers' reports; refusals (never applied) stand out.
  try {
    const v = (await api("GET", "/api/brokers/status")).venue_reports || {};
    const refused = ["unknown", "duplicate", "out_of_order"].filter((k) => v[k]).map((k) => `${k.replace(/_/g, " ")} ${v[k]}`);
    $("venue-reports").textContent = list.length ? `venue reports: ${v.applied ?? 0} applied` + (refused.length ? `; refused: ${refused.join(", ")}` : "") : "";
    $("venue-reports").className = refused.length ? "neg" : "dim";
  } catch (err) { $("venue-reports").textContent = ""; }
  $("brokers").dataset.updates = String(Number($("brokers").dataset.updates || 0) + 1);
}

// The market feed's health (never a secret): its status, how long since its last frame, and
// what it skipped, by reason. Counters of normal flow are summed up in one line; every other
// counter that is not zero is a skip (kinds this page does not know are shown by their name).
const FEED_FLOW = ["ticks", "quotes", "frames", "heartbeats", "packets", "open_interest", "order_updates", "text_messages", "no_new_trade", "connects", "reconnects"];
const FEED_SKIPS = { malformed: "malformed frame", unknown_packets: "packet of unknown length", unknown_tokens: "unknown instrument token",
  bad_prices: "zero or negative price", sub_paise: "price off the paise grid", ltp_only: "LTP packet (no trade)", index_packets: "index packet (no trade)",
  malformed_text: "malformed text message", text_errors: "error message from the broker", overflow: "dropped: engine side behind",
  stale: "connection went quiet", auth_failures: "access token refused", connect_failures: "connection attempt failed" };
async function loadFeed() {
  const sec = $("feed-section");
  let f;
  try { f = await api("GET", "/api/feed"); }
  catch (err) {
    // A run whose feed reports no health (a file, synthetic or UDP feed) has no panel.
    if (err.message === "not found") sec.classList.add("hidden"); else $("feed-error").textContent = err.message;
    sec.dataset.loaded = "1";
    return;
  }
  sec.classList.remove("hidden");
  const c = f.counters || {}, st = String(f.status || "unknown");
  $("feed-name").textContent = f.name;
  $("feed-status").textContent = st;
  $("feed-status").className = "feed-status feed-" + st.replace(/[^a-z_]/g, "");
  $("feed-age").textContent = f.last_frame_age_s == null ? "never" : f.last_frame_age_s.toFixed(1) + " s ago" + (f.stale ? " (stale)" : "");
  $("feed-flow").textContent = ["ticks", "quotes", "frames", "reconnects"].map((k) => `${k} ${c[k] ?? 0}`).join(" · ");
  $("feed-error").textContent = f.last_error ? "last error: " + f.last_error : "";
  const kinds = Object.keys(FEED_SKIPS).concat(Object.keys(c).filter((k) => !(k in FEED_SKIPS) && !FEED_FLOW.includes(k)));
  const rows = kinds.filter((k) => Number(c[k]) > 0);
  $("feed-skips").querySelector("tbody").innerHTML = rows.length ? rows.map((k) => `<tr data-kind="${esc(k)}"><td>${esc(FEED_SKIPS[k] || k)}</td><td class="neg">${c[k]}</td></tr>`).join("")
    : `<tr><td colspan="2">nothing skipped</td></tr>`;
  sec.dataset.loaded = "1";
}

async function loadLimits() {
  const r = await api("GET", "/api/risk/" + encodeURIComponent($("limits-account").value));
  const admin = S.me.role === "admin";
  $("limits").querySelector("tbody").innerHTML = Object.entries(r.limits).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${admin ? `<input data-limit="${esc(k)}" value="${esc(v)}" style="width:120px">` : esc(v)}</td></tr>`).join("");
}
$("limits-account").addEventListener("change", loadLimits);
$("limits-save").addEventListener("click", async () => {
  const l = {};
  document.querySelectorAll("[data-limit]").forEach((i) => { l[i.dataset.limit] = i.value === "true" ? true : i.value === "false" ? false : Number(i.value); });
  const acc = $("limits-account").value;
  if (!confirm("Replace the risk limits of " + acc + "?")) return;
  try { await api("PUT", "/api/risk/" + encodeURIComponent(acc), l); $("limits-msg").textContent = "saved"; } catch (err) { $("limits-msg").textContent = err.message; }
});

$("order-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const o = { account: $("o-account").value, symbol: $("o-symbol").value, side: $("o-side").value, qty: Number($("o-qty").value), order_type: $("o-type").value, product: $("o-product").value };
  if (o.order_type === "LIMIT") o.price = Number($("o-price").value);
  if (!confirm(`${o.side} ${o.qty} ${o.symbol} ${o.order_type} for ${o.account}?`)) return;
  try { await api("POST", "/api/orders", o); $("order-msg").textContent = "sent"; } catch (err) { $("order-msg").textContent = err.message; }
});

async function loadUsers() {
  const us = await api("GET", "/api/users");
  $("users").querySelector("tbody").innerHTML = us.map((u) => `<tr><td>${esc(u.username)}</td><td>${esc(u.role)}</td><td>${esc(u.accounts.join(", "))}</td><td>${u.disabled ? "yes" : "no"}</td>
    <td>${u.username === S.me.username ? "" : `<button data-user="${esc(u.username)}" data-disabled="${u.disabled ? 1 : 0}">${u.disabled ? "Enable" : "Disable"}</button>`}</td></tr>`).join("");
}
$("users").addEventListener("click", async (e) => {
  const u = e.target.dataset.user; if (!u) return;
  const dis = e.target.dataset.disabled !== "1";
  if (!confirm((dis ? "Disable " : "Enable ") + u + "?")) return;
  try { await api("PATCH", "/api/users/" + encodeURIComponent(u), { disabled: dis }); loadUsers(); } catch (err) { $("user-msg").textContent = err.message; }
});
$("user-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const accounts = $("u-accounts").value.split(",").map((s) => s.trim()).filter(Boolean);
  try { await api("POST", "/api/users", { username: $("u-name").value, password: $("u-pass").value, role: $("u-role").value, accounts }); $("user-msg").textContent = "created"; loadUsers(); }
  catch (err) { $("user-msg").textContent = err.message; }
});

// Saved backtest reports the user may read; a page opens below the list, in a sandboxed frame
// (no script runs in it; the page is self-contained).
async function loadReports() {
  let rs;
  try { rs = await api("GET", "/api/reports?limit=50"); } catch (err) { $("reports-msg").textContent = err.message; return; }
  const pct = (x) => x == null ? "" : fmt(x * 100) + "%";
  $("reports").querySelector("tbody").innerHTML = rs.map((r) => `<tr><td>${esc(new Date(r.created_ns / 1e6).toLocaleString())}</td>
    <td>${esc(r.run_label)}</td><td>${esc(r.account || "whole run")}</td><td>${fmt(r.metrics.days, 0)}</td>
    <td class="${cls(r.metrics.total_return)}">${pct(r.metrics.total_return)}</td><td>${fmt(r.metrics.sharpe)}</td>
    <td>${pct(r.metrics.max_drawdown)}</td><td>${fmt(r.metrics.trades, 0)}</td><td><button data-report="${r.id}">Open</button></td></tr>`).join("");
  $("reports-msg").textContent = rs.length ? "" : "No saved reports (dalal backtest --save keeps them).";
}
$("reports").addEventListener("click", async (e) => {
  const id = e.target.dataset.report; if (!id) return;
  const r = await fetch("/api/reports/" + encodeURIComponent(id), { headers: { Authorization: "Bearer " + S.access } });
  if (!r.ok) { $("reports-msg").textContent = "HTTP " + r.status; return; }
  const frame = $("report-frame");
  frame.srcdoc = await r.text();
  frame.classList.remove("hidden");
});

if (S.access) start().catch(() => logout(false));
