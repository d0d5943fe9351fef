// arbdash web dashboard: draws /api/snapshot, follows /api/stream (re-fetching the snapshot, throttled).
// Every log-derived string goes into the DOM as text (textContent / createTextNode), never as markup.
"use strict";

const NA = "n/a";
const TOKEN_KEY = "arbdash_token";
const THROTTLE_MS = 500;
const PER_SESSION = new Set(["/api/info", "/api/snapshot", "/api/stream", "/api/events"]); // what ?session= selects
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const sessionParam = params.get("session");
const S = {
  info: null, snap: null, following: true, es: null, gen: 0, confirming: null,
  lastFetch: 0, timer: null, inflight: false, dirty: false, history: null, slideTimer: null, wantSeq: 0, chase: 0,
};

// --- DOM helpers -------------------------------------------------------------------------------------------
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function add(parent, ...kids) {
  for (const k of kids) parent.appendChild(typeof k === "string" ? document.createTextNode(k) : k);
  return parent;
}
function fill(node, ...kids) { node.replaceChildren(); return add(node, ...kids); }
function show(node, on) { node.classList.toggle("hidden", !on); }
function btn(text, cls, onclick) {
  const b = el("button", cls, text); b.type = "button"; b.addEventListener("click", onclick); return b;
}
function kv(label, value, cls) {
  const v = value instanceof Node ? value : el("span", cls || "num", value);
  return add(el("span", "kv"), el("span", "label", label), v);
}
function table(headers, rows, empty) {
  if (!rows.length) return el("p", "dim", empty || "none");
  const t = el("table"), head = el("tr"), right = headers.map((h) => (h.endsWith(" ") ? "r" : ""));
  headers.forEach((h, i) => add(head, el("th", right[i], h.trim())));
  add(t, add(el("thead"), head));
  const body = el("tbody");
  for (const r of rows) {
    const tr = el("tr");
    if (r.id) tr.dataset.id = r.id;
    (r.cells || r).forEach((c, i) => add(tr, c instanceof Node ? add(el("td", right[i]), c) : el("td", right[i], c)));
    add(body, tr);
  }
  return add(t, body);
}

// --- numbers (decimal strings, never floats for money) -----------------------------------------------------
function parseDec(s) {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(String(s).trim());
  if (!m || (m[2] === "" && !m[3])) return null;
  const frac = m[3] || "";
  let scale = frac.length - (m[4] ? parseInt(m[4], 10) : 0);
  let digits = BigInt((m[2] || "0") + frac);
  if (scale < 0) { digits *= 10n ** BigInt(-scale); scale = 0; }
  return { neg: m[1] === "-", digits, scale };
}
// A decimal string rounded half-even to `places`, times 10^shift; {text, sign} (sign of the rounded figure).
function fmtDec(s, places = 2, signed = false, shift = 0, group = true) {
  if (s === null || s === undefined || s === "") return { text: NA, sign: 0 };
  const d = parseDec(s);
  if (!d) return { text: String(s), sign: 0 };
  let scale = d.scale - shift, q = d.digits;
  if (scale < 0) { q *= 10n ** BigInt(-scale); scale = 0; }
  if (scale > places) {
    const div = 10n ** BigInt(scale - places), r = q % div, half = div / 2n;
    q /= div;
    if (r > half || (r === half && q % 2n === 1n)) q += 1n;
  } else q *= 10n ** BigInt(places - scale);
  let str = q.toString().padStart(places + 1, "0");
  let ip = places ? str.slice(0, -places) : str;
  const fp = places ? str.slice(-places) : "";
  if (group) ip = ip.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const sign = q === 0n ? 0 : d.neg ? -1 : 1;
  str = (sign < 0 ? "-" : signed ? "+" : "") + ip + (places ? "." + fp : "");
  return { text: str, sign };
}
// a decimal string ≤ 0 (exact: never through a float)
function nonPositive(s) {
  if (s === null || s === undefined) return false;
  const d = parseDec(s);
  return d !== null && (d.neg || d.digits === 0n);
}
const NO_EQUITY = "equity ≤ 0"; // an account with nothing left to cover its maintenance margin (red, never n/a)
const NO_LIQ = "none: no price can liquidate it (the account covers any move)"; // a leg's "none" (never n/a: known)
function numSpan(f, colored) {
  return el("span", "num" + (colored ? (f.sign > 0 ? " pos" : f.sign < 0 ? " neg" : "") : ""), f.text);
}
const usd = (s, signed) => numSpan(fmtDec(s, 2, signed), signed);
const pnl = (s) => usd(s, true);
const aprPct = (s) => numSpan(fmtDec(s, 2, true, 2), true);
const pct = (s, signed) => numSpan(fmtDec(s, 2, signed), signed);
function dur(sec) {
  if (sec === null || sec === undefined) return NA;
  let s = Math.abs(Math.trunc(sec));
  const sign = sec < 0 ? "-" : "", d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  s %= 60;
  const p2 = (n) => String(n).padStart(2, "0");
  if (d) return `${sign}${d}d${p2(h)}h`;
  if (h) return `${sign}${h}h${p2(m)}m`;
  return m ? `${sign}${m}m${p2(s)}s` : `${sign}${s}s`;
}
function when(iso, short) {
  if (!iso) return NA;
  const t = String(iso).replace("T", " ").replace(/\.\d+/, "").replace(/(Z|\+00:00)$/, "");
  return short ? t.slice(5, 16) : t.slice(0, 19) + " UTC";
}

// --- API ------------------------------------------------------------------------------------------------
function apiUrl(path, query) {
  const u = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) u.searchParams.set(k, v);
  if (sessionParam && PER_SESSION.has(path)) u.searchParams.set("session", sessionParam);
  return u.pathname + u.search;
}
async function api(path, query, init) {
  const r = await fetch(apiUrl(path, query), Object.assign({ credentials: "same-origin", cache: "no-store" }, init));
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (r.status === 401 && !(init && init.method === "POST")) needLogin();
  return { status: r.status, ok: r.ok, body };
}

// --- connection state, login ----------------------------------------------------------------------------
function setConn(state) {
  const c = $("conn");
  c.textContent = state;
  c.className = "conn " + (state === "connected" ? "conn-on" : state === "history" ? "conn-hist"
    : state.startsWith("fleet") ? "conn-neutral" : "conn-off");
}
function needLogin(msg) {
  if (S.es) { S.es.close(); S.es = null; }
  setConn("login needed");
  show($("login"), true);
  $("login-msg").textContent = msg || "";
  $("token").focus();
}
async function login() {
  const token = $("token").value;
  const r = await api("/api/login", {}, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token }),
  });
  if (!r.ok) { $("login-msg").textContent = (r.body && r.body.message) || `login failed (${r.status})`; return; }
  sessionStorage.setItem(TOKEN_KEY, token);
  $("token").value = "";
  show($("login"), false);
  start();
}
async function logout() {
  await api("/api/logout", {}, { method: "POST" });
  sessionStorage.removeItem(TOKEN_KEY);
  needLogin("logged out");
}

// --- snapshot fetching: throttled, newest wins ------------------------------------------------------------
function requestRefresh() {
  if (!S.following) return;
  S.dirty = true;
  if (S.timer || S.inflight) return;
  S.timer = setTimeout(refresh, Math.max(0, S.lastFetch + THROTTLE_MS - Date.now()));
}
async function refresh() {
  S.timer = null;
  if (!S.dirty) return;
  S.dirty = false; S.inflight = true; S.lastFetch = Date.now();
  try { await loadSnapshot(null); } catch (e) { setConn("reconnecting"); } finally {
    S.inflight = false;
    if (S.dirty) requestRefresh();
  }
}
async function loadSnapshot(at) {
  const gen = S.gen;
  const r = await api("/api/snapshot", at ? { at } : {});
  if (gen !== S.gen || !r.ok || !r.body) return;
  draw(r.body);
  // the reducer folds a moment after the event is streamed: until the snapshot has caught up, ask again
  // (bounded: a stream whose ids the snapshot never reaches costs at most 20 extra fetches)
  if (!at && S.following && Number(r.body.seq) < S.wantSeq && ++S.chase <= 20) S.dirty = true;
  else S.chase = 0;
}
function openStream() {
  if (S.es) S.es.close();
  const es = new EventSource(apiUrl("/api/stream"));
  S.es = es;
  es.onopen = () => { if (S.following) setConn("connected"); requestRefresh(); };
  es.addEventListener("snapshot", (e) => { if (S.following) draw(JSON.parse(e.data)); });
  es.addEventListener("resync", requestRefresh);
  es.onmessage = (e) => {
    const id = Number(e.lastEventId);
    if (Number.isFinite(id) && id > S.wantSeq) S.wantSeq = id;
    requestRefresh();
  };
  es.onerror = () => {
    if (S.es !== es) return;
    setConn("reconnecting");
    if (es.readyState === EventSource.CLOSED) { es.close(); S.es = null; setTimeout(recheck, 2000); }
  };
}
async function recheck() {
  try {
    const r = await api("/api/info");
    if (r.ok) openStream();
  } catch (e) { setTimeout(recheck, 2000); }
}

// --- panes ----------------------------------------------------------------------------------------------
function pane(id) { return document.querySelector(`#${id} .body`); }
function healthCls(h) {
  h = String(h || "").toLowerCase();
  return h === "running" ? "ok" : h === "degraded" || h === "starting" ? "warn" : h === "stopped" ? "dim" : "bad";
}
function drawSession(s, seq) {
  const line1 = add(el("div", "line"),
    el("span", "tag " + (s.dry_run === false ? "bad" : "warn"), s.dry_run === false ? "LIVE" : s.dry_run ? "DRY RUN" : NA),
    el("span", "tag " + healthCls(s.health), "health " + String(s.health).toUpperCase() + (s.health_reason ? ` (${s.health_reason})` : "")),
    el("span", "", `${s.strategy || NA} v${s.strategy_version || NA}`),
    el("span", "dim", "session " + (s.session_id || NA).slice(0, 8)));
  if (s.entries_paused) {
    const paused = el("span", "tag warn", "ENTRIES PAUSED");
    paused.id = "entries-paused";
    line1.insertBefore(paused, line1.children[1]);
  }
  const line2 = add(el("div", "line"), kv("stage", `${s.stage_banner || NA}  [${s.lifecycle || NA}]`, "txt"));
  if (s.stop_reason) add(line2, kv("stopped", s.stop_reason, "txt"));
  const line3 = add(el("div", "line"), kv("market now", when(s.market_now)),
    kv("uptime market", dur(s.market_uptime_s)), kv("wall", dur(s.wall_uptime_s)), kv("started", when(s.started_ts)));
  const lim = add(el("span"), el("span", "num", `${s.open_positions}/${s.max_positions ?? NA}`));
  const line4 = add(el("div", "line"), kv("positions", lim),
    kv("exposure", `${fmtDec(s.exposure_used_usd).text} / ${fmtDec(s.max_total_exposure_usd).text} USD`),
    kv("config", s.config_path || NA, "txt"));
  const venues = add(el("div", "line"), el("span", "label", "venues"));
  for (const v of s.venues || []) {
    const up = v.connected === true ? "up" : v.connected === false ? "down" : "?";
    add(venues, el("span", "venue " + (v.connected === true ? "ok" : v.connected === false ? "bad" : "warn"),
      `${v.name} ${up}${v.funding_interval_s ? " " + dur(v.funding_interval_s) : ""} taker ${fmtDec(v.taker_fee_rate, 2, false, 4).text}bp`
      + (v.reason ? ` (${v.reason})` : "")));
  }
  fill(pane("p-session"), line1, line2, line3, line4, venues);
}
function drawPortfolio(p, s) {
  const net = pnl(p.net_pnl); net.id = "net-pnl"; net.classList.add("big");
  const meter = el("meter"); meter.min = 0; meter.id = "exposure-bar";
  const limit = parseFloat(s.max_total_exposure_usd); // display only: the bar, never a figure shown as money
  show(meter, Number.isFinite(limit) && limit > 0); // no limit: nothing to be a fraction of
  meter.max = Number.isFinite(limit) && limit > 0 ? limit : 1;
  meter.value = Math.min(parseFloat(p.exposure_used_usd) || 0, meter.max);
  fill(pane("p-portfolio"),
    add(el("div", "line"), kv("net PnL", net), el("span", "dim", "USD")),
    add(el("div", "grid2"), kv("realized", pnl(p.realized_pnl)), kv("unrealized", pnl(p.unrealized_pnl)),
      kv("funding", pnl(p.funding)), kv("expected", pnl(p.funding_expected)),
      kv("fees", usd(p.fees)), kv("notional", usd(p.total_notional)),
      kv("margin used", usd(p.margin_used)),
      kv("headroom", p.exposure_headroom_usd == null ? NA : `${fmtDec(p.exposure_headroom_usd).text} (${fmtDec(p.exposure_headroom_pct, 1).text}%)`)),
    add(el("div", "line"), kv("exposure", `${fmtDec(p.exposure_used_usd).text} / ${s.max_total_exposure_usd == null ? NA : fmtDec(s.max_total_exposure_usd).text}`), meter),
    add(el("div", "line"), kv("open", p.positions_open), kv("opened", p.positions_opened), kv("closed", p.positions_closed),
      kv("wins", p.wins), kv("losses", p.losses), kv("avg hold", dur(p.avg_hold_s))),
    riskLine(p.risk),
    add(el("div", "line"), kv("mm headroom", p.mm_headroom_usd == null ? NA + " (no accounts logged)"
      : `${fmtDec(p.mm_headroom_usd).text} USD (${fmtDec(p.mm_headroom_pct, 1).text}%)`), worstHeadroom(p)));
}
// the venue account nearest liquidation (collateral is not shared between venues: the sum can hide it)
function worstHeadroom(p) {
  if (p.mm_headroom_worst_venue == null) return el("span");
  const bad = p.mm_headroom_worst_pct == null || nonPositive(p.mm_headroom_worst_usd);
  const pctText = p.mm_headroom_worst_pct == null ? NO_EQUITY : `${fmtDec(p.mm_headroom_worst_pct, 1).text}%`;
  const v = el("span", bad ? "num bad" : "num",
    `${p.mm_headroom_worst_venue} ${fmtDec(p.mm_headroom_worst_usd).text} USD (${pctText})`);
  v.id = "mm-worst";
  return kv("worst venue", v);
}
// the worst 1-day loss over the history the scenarios span (at most the 30 d kept): "stress (worst day, last 8 d)"
function stressLabel(r) {
  const h = r.history_hours;
  return `stress (worst day, last ${h >= 48 ? Math.round(h / 24) + " d" : h + " h"})`;
}
// VaR / ES / stress of a book (RiskSnapshot), or why there is none yet (the hours of marks its scenarios need)
function riskText(r) {
  if (!r) return NA;
  if (r.empty) return "no open leg";
  if (r.var == null) return `${NA} (needs ${r.needed_hours} h)`;
  return `VaR ${fmtDec(r.var).text} · ES ${fmtDec(r.es).text} · ${stressLabel(r)} ${fmtDec(r.stress).text} USD (${r.scenarios} h)`;
}
function riskLine(r) {
  const conf = r ? fmtDec(r.confidence, 0, false, 2).text : "99";
  const line = add(el("div", "line"), kv(`1-day ${conf}% risk`, riskText(r), "txt")); // text that may wrap
  line.id = "risk";
  return line;
}
// the leg nearest its liquidation price: "venue 12.34%" (signed) coloured by the session's threshold;
// ≤ 0 (at or past the liquidation price): red and "PAST LIQ"
function nearestLiq(p) {
  let best = null;
  for (const [venue, leg] of Object.entries(p.legs || {})) {
    if (leg.liquidation_distance_pct == null) continue;
    if (!best || parseFloat(leg.liquidation_distance_pct) < parseFloat(best[1].liquidation_distance_pct)) best = [venue, leg];
  }
  if (!best) { // "none": no price can liquidate a leg (its account covers any move); n/a: not known
    const none = Object.values(p.legs || {}).some((leg) => leg.no_liquidation_price);
    return Object.assign(el("span", "dim", none ? "none" : NA), none ? { title: NO_LIQ } : {});
  }
  const past = nonPositive(best[1].liquidation_distance_pct);
  const cls = past || best[1].liquidation_level === "danger" ? "num bad" : best[1].liquidation_level === "warn" ? "num warn" : "num";
  return el("span", cls, `${best[0]} ${fmtDec(best[1].liquidation_distance_pct).text}%${past ? " PAST LIQ" : ""}`);
}
// a position's legs: "PAST LIQ" (a leg at or past its liquidation price), "NEAR LIQ" (within 2× the threshold)
function liqTag(p) {
  if (!p.near_liquidation) return el("span");
  const past = Object.values(p.legs || {}).some((leg) => nonPositive(leg.liquidation_distance_pct));
  return past ? el("span", "tag bad", "PAST LIQ") : el("span", "tag warn", "NEAR LIQ");
}
function drawAccounts(accounts, positions) {
  const rows = (accounts || []).map((a) => {
    const broke = nonPositive(a.equity); // no margin ratio nor headroom % exists: say why, in red
    return [a.venue, usd(a.equity),
      broke ? el("span", "num bad", NO_EQUITY) : a.margin_ratio == null ? NA : el("span", "num", fmtDec(a.margin_ratio, 2, false, 2).text),
      broke ? el("span", "num bad", `${fmtDec(a.mm_headroom_usd).text} (${NO_EQUITY})`)
        : `${fmtDec(a.mm_headroom_usd).text} (${fmtDec(a.mm_headroom_pct, 1).text}%)`, usd(a.available),
      usd(a.transfers_in), usd(a.transfers_out)];
  });
  const imbalance = positions.filter((p) => p.lifecycle === "open" && p.collateral_imbalance_usd != null)
    .map((p) => add(el("div", "line"), kv(p.position_id, `${fmtDec(p.collateral_imbalance_usd, 2, true).text} USD imbalance (${p.long_venue || "—"} − ${p.short_venue || "—"} equity)`),
      liqTag(p), p.rebalance_flag ? el("span", "tag warn", "REBALANCE") : el("span")));
  fill(pane("p-accounts"),
    table(["Venue", "Equity ", "Margin ratio% ", "MM headroom ", "Available ", "Moved in ", "Moved out "], rows,
      "no venue accounts in this log"), ...imbalance);
}
function closeCell(pid) {
  const span = el("span", "actions");
  if (!(S.info && S.info.commands) || S.following === false) return span;
  if (S.confirming === "close:" + pid) {
    return add(span, el("span", "warn", "close? "),
      btn("confirm", "danger", () => { S.confirming = null; command({ command: "close_position", position_id: pid }); }),
      btn("cancel", "", () => { S.confirming = null; redraw(); }));
  }
  return add(span, btn("close", "small", () => { S.confirming = "close:" + pid; redraw(); }));
}
// a session of two or more strategy instances: the strategies pane and a Strategy column in the position tables
function multiStrategy(snap) { return (snap.strategies || []).filter((v) => v.name != null).length >= 2; }
function stratName(name) { return name == null ? "(none)" : name; }
const SPARK = "▁▂▃▄▅▆▇█";
// the hourly net PnL as ▁…█, scaled from its lowest to its highest value (display only: never a figure shown)
function sparkline(values) {
  const v = (values || []).map((x) => parseFloat(x));
  if (!v.length) return NA;
  const lo = Math.min(...v), hi = Math.max(...v);
  return v.map((x) => SPARK[hi === lo ? 3 : Math.floor(((x - lo) / (hi - lo)) * (SPARK.length - 1))]).join("");
}
function drawStrategies(snap) {
  const on = multiStrategy(snap);
  show($("p-strategies"), on);
  if (!on) return;
  const rows = snap.strategies.map((v) => [
    el("span", v.name == null ? "dim" : "", stratName(v.name)), v.type || NA, v.stage_banner || NA,
    `${v.positions_open}/${v.max_positions == null ? NA : v.max_positions}`,
    `${fmtDec(v.exposure_used_usd, 0).text}/${v.max_total_exposure_usd == null ? NA : fmtDec(v.max_total_exposure_usd, 0).text}`,
    pnl(v.realized_pnl), pnl(v.unrealized_pnl), pnl(v.funding), usd(v.fees), pnl(v.net_pnl),
    el("span", "num spark", sparkline(v.pnl_history)),
  ]);
  fill(pane("p-strategies"), table(["Strategy", "Type", "Stage", "Pos open/max ", "Expo used/lim ", "rPnL ",
    "uPnL ", "Funding ", "Fees ", "Net USD ", "Net by hour"], rows, "no strategies"));
}
// a strategy's own figures for a position (name → decimal string), as text
function figures(p) {
  return Object.entries(p.figures || {}).map(([k, v]) => `${k} ${v}`).join(" · ");
}
function drawOpen(positions, multi) {
  const open = positions.filter((p) => !["closed", "rolled_back"].includes(p.lifecycle));
  const figs = open.some((p) => Object.keys(p.figures || {}).length > 0);
  const rows = open.map((p) => ({ id: p.position_id, cells: [
    p.position_id, ...(multi ? [stratName(p.strategy)] : []), p.symbol, p.lifecycle, `${p.long_venue || NA}/${p.short_venue || NA}`,
    usd(p.filled_exposure_usd), aprPct(p.entry_spread_apr), aprPct(p.current_spread_apr),
    pct(p.profit_erosion_pct), pnl(p.funding_accrued), usd(p.fees), pnl(p.unrealized_pnl), pnl(p.net_pnl),
    dur(p.age_s), p.hold_code ? p.hold_code + (p.hold_left_s == null ? "" : p.hold_left_s <= 0 ? " (ended)" : ` (ends in ${dur(p.hold_left_s)})`) : "",
    ...(figs ? [figures(p)] : []), nearestLiq(p), closeCell(p.position_id),
  ] }));
  const hdr = ["ID", ...(multi ? ["Strategy"] : []), "Sym", "State", "Long/Short", "Exposure ", "Entry APR% ", "Now APR% ", "Erosion% ",
    "Funding ", "Fees ", "uPnL ", "Net USD ", "Age ", "Hold", ...(figs ? ["Figures"] : []), "Liq dist ", ""];
  fill(pane("p-open"), table(hdr, rows, "no open positions"));
}
function drawClosed(positions, multi) {
  const closed = positions.filter((p) => ["closed", "rolled_back"].includes(p.lifecycle))
    .sort((a, b) => String(b.closed_ts || "").localeCompare(String(a.closed_ts || "")));
  const rows = closed.slice(0, 12).map((p) => ({ id: p.position_id, cells: [
    p.position_id, ...(multi ? [stratName(p.strategy)] : []), p.symbol, p.exit_reason || p.lifecycle, `${p.long_venue || NA}/${p.short_venue || NA}`,
    dur(p.age_s), pnl(p.realized_pnl), usd(p.fees), pnl(p.funding_accrued),
    pnl(p.booked_net_pnl ?? p.net_pnl), pct(p.roi_pct, true),
  ] }));
  const body = fill(pane("p-closed"), table(["ID", ...(multi ? ["Strategy"] : []), "Sym", "Exit", "Long/Short", "Held ", "rPnL ", "Fees ",
    "Funding ", "Net USD ", "ROI% "], rows, "no closed positions"));
  if (closed.length > 12) add(body, el("p", "dim", `… ${closed.length - 12} more closed`));
}
// vs min of a symbol whose strategy has no APR entry rule (settlement_timing: it enters on its settlement window)
const noRule = () => Object.assign(el("span", "dim", "no rule"), { title: "its strategy has no APR entry rule" });
function drawFunding(f) {
  const best = (f.best || []).map((b) => [b.symbol, b.long_venue ? `${b.long_venue}/${b.short_venue}` : "no positive spread",
    aprPct(b.spread_apr), aprPct(b.net_apr), b.no_entry_rule ? noRule() : aprPct(b.vs_min), b.position_open ? "open" : ""]);
  const rates = (f.rates || []).map((r) => [r.venue, r.symbol, numSpan(fmtDec(r.rate, 2, true, 4), true), dur(r.interval_s),
    aprPct(r.apr), dur(r.countdown_s)]);
  fill(pane("p-funding"),
    add(el("div", "line"), f.per_strategy_rules ? kv("entry rule", "per strategy")
      : f.min_profit_rate == null ? kv("entry rule", f.no_entry_rule ? "no APR rule" : "not announced")
      : kv("entry ≥", `${fmtDec(f.min_profit_rate, 2, false, 2).text}% net APR`),
      kv("accrued", pnl(f.total_actual)), kv("expected", pnl(f.total_expected))),
    table(["Sym", "Long/Short", "Spread% ", "Net% ", "vs min ", ""], best, "no rates yet"),
    table(["Venue", "Sym", "Last bp ", "Int ", "APR% ", "Next in "], rates, "no rates yet"));
}
function drawTimeline(events, multi) {
  const rows = (events || []).slice().reverse().map((e) => [
    el("span", "num", when(e.market_ts || e.ts, true)), ...(multi ? [el("span", "dim", e.strategy || "")] : []),
    el("span", "lvl-" + String(e.level).toLowerCase(), e.category),
    el("span", "dim", e.event), el("span", "msg", e.message)]);
  fill(pane("p-timeline"), table(["Time", ...(multi ? ["Strategy"] : []), "Category", "Event", "Message"], rows, "no events yet"));
}
function drawHealth(s, seq, at) {
  const ing = s.ingest || {};
  const total = (o) => Object.values(o || {}).reduce((a, b) => a + b, 0);
  const pg = s.postgres_health ? `${s.postgres_health}${s.postgres_reason ? " (" + s.postgres_reason + ")" : ""}` : NA;
  const metrics = add(el("div", "line"), el("span", "label", "metrics"));
  for (const m of s.metrics || []) add(metrics, kv(m.name, `${fmtDec(m.value, 2, false, 0, false).text} ${m.unit || ""}`));
  const others = Object.entries(s.other_sessions || {}).map(([k, v]) => `${k.slice(0, 8)}: ${v}`).join(", ");
  fill(pane("p-health"),
    add(el("div", "line"), kv("postgres", pg, "txt " + (s.postgres_health ? healthCls(s.postgres_health) : "dim")),
      kv("events", s.events_applied), kv("skipped", total(ing.skipped)), kv("rejected", total(ing.rejected)),
      kv("unknown", total(ing.unknown)), kv("seq", seq), kv("frame", when(at))),
    ing.last_problem ? add(el("div", "line"), kv("last problem", ing.last_problem, "txt warn")) : el("span"),
    others ? add(el("div", "line"), kv("other sessions", others, "txt")) : el("span"),
    metrics,
    s.data_note ? el("p", "dim note", s.data_note) : el("span"));
}
function draw(body) {
  S.snap = body;
  const snap = body.snapshot;
  const seqEl = $("seq");
  seqEl.textContent = `seq ${body.seq}`;
  seqEl.dataset.seq = String(body.seq);
  show($("dash"), true);
  drawSession(snap.session, body.seq);
  drawPortfolio(snap.portfolio, snap.session);
  const multi = multiStrategy(snap);
  drawStrategies(snap);
  drawOpen(snap.positions || [], multi);
  drawClosed(snap.positions || [], multi);
  drawFunding(snap.funding || {});
  drawAccounts(snap.accounts, snap.positions || []);
  drawTimeline(snap.recent_events, multi);
  drawHealth(snap.session, body.seq, snap.generated_at);
}
function redraw() { if (S.snap) draw(S.snap); drawCommands(); }

// --- commands -------------------------------------------------------------------------------------------
let cmdMsg = { text: "", cls: "" };
async function command(cmd) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) { cmdMsg = { text: "enter the token to send commands", cls: "warn" }; redraw(); needLogin(); return; }
  const id = "web-" + (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2));
  cmdMsg = { text: `${cmd.command}: sending…`, cls: "dim" };
  redraw();
  try {
    const r = await api("/api/commands", {}, {
      method: "POST", headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
      body: JSON.stringify(Object.assign({ id }, cmd)),
    });
    const b = r.body || {};
    const status = b.status && typeof b.status === "string" ? b.status : `HTTP ${r.status}`;
    cmdMsg = { text: `${cmd.command}: ${status}${b.reason ? " [" + b.reason + "]" : ""} — ${b.message || b.error || ""}`,
      cls: r.status === 200 ? "ok" : r.status === 202 ? "warn" : "bad" };
  } catch (e) {
    cmdMsg = { text: `${cmd.command}: failed to send (${e})`, cls: "bad" };
  }
  redraw();
  requestRefresh();
}
function drawCommands() {
  const on = !!(S.info && S.info.commands) && S.following;
  show($("p-commands"), on);
  if (!on) return;
  const flatten = S.confirming === "flatten_all"
    ? add(el("span", "actions"), el("span", "warn", "flatten all positions? "),
      btn("confirm", "danger", () => { S.confirming = null; command({ command: "flatten_all" }); }),
      btn("cancel", "", () => { S.confirming = null; redraw(); }))
    : btn("Flatten all", "danger", () => { S.confirming = "flatten_all"; redraw(); });
  const sel = el("select"); sel.id = "limit-name";
  for (const n of ["max_positions", "max_total_exposure_usd"]) add(sel, Object.assign(el("option", "", n), { value: n }));
  const val = el("input"); val.id = "limit-value"; val.placeholder = "value"; val.inputMode = "decimal"; val.size = 8;
  const set = btn("Set limit", "", () => {
    const v = val.value.trim();
    if (!/^\d+(\.\d+)?$/.test(v)) { cmdMsg = { text: "set_limit: the value must be a non-negative decimal", cls: "bad" }; redraw(); return; }
    command({ command: "set_limit", limit: sel.value, value: v });
  });
  fill(pane("p-commands"),
    add(el("div", "line"), btn("Pause entries", "", () => command({ command: "pause_entries" })),
      btn("Resume entries", "", () => command({ command: "resume_entries" })), flatten),
    add(el("div", "line"), sel, val, set),
    add(el("div", "line"), Object.assign(el("span", "msg " + cmdMsg.cls, cmdMsg.text), { id: "cmd-msg" })));
}

// --- replay: time slider, fleet ---------------------------------------------------------------------------
function setupReplay(h) {
  const first = Date.parse(h.first), last = Date.parse(h.last);
  if (!Number.isFinite(first) || !Number.isFinite(last) || last < first) return;
  S.history = { first, last };
  const sl = $("slider");
  sl.max = String(Math.floor((last - first) / 1000));
  sl.value = sl.max;
  const label = () => new Date(first + Number(sl.value) * 1000).toISOString().replace(/\.\d+Z$/, "Z");
  $("slider-time").textContent = label();
  sl.addEventListener("input", () => {
    $("slider-time").textContent = label();
    S.following = false; S.gen++; S.confirming = null;
    setConn("history");
    clearTimeout(S.slideTimer);
    S.slideTimer = setTimeout(() => { loadSnapshot(label()); drawCommands(); }, 250);
  });
  $("live-btn").addEventListener("click", () => {
    S.following = true; S.gen++; sl.value = sl.max; $("slider-time").textContent = "live";
    setConn(S.es ? "connected" : "reconnecting");
    requestRefresh(); drawCommands();
  });
  $("slider-time").textContent = "live";
  if (h.clock) $("replay-clock").textContent = `(${h.clock} clock, UTC)`;
  show($("replay"), true);
}
async function drawFleet() {
  const r = await api("/api/sessions");
  if (!r.ok || !r.body) return;
  const cols = ["session_id", "strategy", "health", "open_positions", "net_pnl", "last_event_ts", "started_ts", "host"];
  const list = r.body.sessions || [];
  const present = cols.filter((c) => list.some((s) => s[c] !== undefined));
  const rows = list.map((s) => present.map((c) => {
    const v = s[c];
    if (c === "session_id") { const a = el("a", "", String(v).slice(0, 8)); a.href = "/?session=" + encodeURIComponent(v); return a; }
    if (c === "net_pnl") return pnl(v);
    if (c === "last_event_ts") {
      const t = Date.parse(v);
      return v ? `${when(v)} (${Number.isFinite(t) ? dur((Date.now() - t) / 1000) + " ago" : NA})` : NA;
    }
    if (c === "started_ts") return when(v);
    return v === null || v === undefined ? NA : String(v);
  }));
  fill($("fleet-body"), table(present.map((c) => c.replace(/_/g, " ")), rows, "no sessions"));
  show($("fleet"), true);
}

// --- start ----------------------------------------------------------------------------------------------
async function start() {
  let r;
  try { r = await api("/api/info"); } catch (e) { setConn("reconnecting"); setTimeout(start, 2000); return; }
  if (r.status === 401) return;
  if (!r.ok || !r.body) { setConn("reconnecting"); setTimeout(start, 2000); return; }
  S.info = r.body;
  $("mode").textContent = S.info.mode + (sessionParam ? " · " + sessionParam.slice(0, 8) : "");
  show($("logout"), !!S.info.token_required);
  if (S.info.mode === "replay" && S.info.history && !S.history) setupReplay(S.info.history);
  if (S.info.fleet) drawFleet();
  if (S.info.fleet && !sessionParam) {
    // the fleet landing page: no session chosen, so there is no snapshot to fetch nor stream to follow
    // (both answer 400 session_required): the sessions table is the page
    setConn("fleet · pick a session");
    return;
  }
  drawCommands();
  await loadSnapshot(null);
  openStream();
}
document.addEventListener("DOMContentLoaded", () => {
  $("login-btn").addEventListener("click", login);
  $("token").addEventListener("keydown", (e) => { if (e.key === "Enter") login(); });
  $("logout").addEventListener("click", logout);
  start();
});
