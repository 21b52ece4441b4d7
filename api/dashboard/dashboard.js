/* sculpt dashboard: reads the REST API and draws what an operator would
 * rather look at than read.  Plain JavaScript, no build step; plots with
 * uPlot (vendor/).  window.sculptDashboard exposes what was drawn, for the
 * headless-browser test and for curious operators. */
"use strict";

(function () {
  const REFRESH_MS = 15000;
  const GUEST_EVENTS = 20;  /* the selected guest's latest events shown */
  const PALETTE = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2",
                   "#65a30d", "#dc2626", "#4b5563", "#ca8a04", "#9333ea", "#0d9488"];
  const RES = [
    ["vcpu", "vCPU"], ["mem_mib", "MiB"], ["net_in_mbps", "Mbit/s in"],
    ["net_out_mbps", "Mbit/s out"], ["disk_read_iops", "read IOPS"],
    ["disk_write_iops", "write IOPS"], ["disk_read_mbps", "read MB/s"],
    ["disk_write_mbps", "write MB/s"],
  ];

  const state = {
    token: null,
    selected: null,       /* uuid of the guest shown */
    plots: [],            /* live uPlot instances, destroyed before a redraw */
    timer: null,
  };
  const status = { ready: false, renders: 0, plots: {}, errors: [] };
  window.sculptDashboard = status;

  const $ = (sel) => document.querySelector(sel);

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function svg(tag, attrs) {
    const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    return e;
  }

  function fmt(v) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    const a = Math.abs(v);
    if (a >= 1000 || v === Math.round(v)) return Math.round(v).toLocaleString("en");
    return v.toPrecision(3);
  }

  function setStatus(text, error) {
    const s = $("#status");
    s.textContent = text;
    s.classList.toggle("error", !!error);
  }

  /* ---- the API ---- */

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(path) {
    const r = await fetch(path, { headers: { "X-Auth-Token": state.token || "" } });
    let body = null;
    try {
      body = await r.json();
    } catch (e) {
      body = null;
    }
    if (!r.ok) {
      const err = (body && body.error) || {};
      throw new ApiError(r.status, err.code || "HTTP_" + r.status, err.message || r.statusText);
    }
    return body;
  }

  function needLogin(why) {
    $("#login").hidden = false;
    setStatus(why, true);
  }

  /* ---- host: resource bars ---- */

  function guestColor(i) {
    return PALETTE[i % PALETTE.length];
  }

  function drawResourceBars(host, guests) {
    const box = $("#resource-bars");
    box.replaceChildren();
    let drawn = 0;
    for (const [k, unit] of RES) {
      const cap = host.capacity[k] || 0;
      const ceiling = host.ceiling[k] || cap;
      const alloc = host.allocated[k] || 0;
      const used = host.used[k] || 0;
      /* NIC and disk rows only once something is shaped or used there */
      if (cap <= 0 || (k !== "vcpu" && k !== "mem_mib" && alloc <= 0 && used <= 0)) continue;
      /* scaled to what matters: capacity and what is given or used; an
       * overcommit ceiling far beyond them is only written, not drawn */
      const top = Math.max(cap, alloc, used) * 1.04;
      const W = 1000, H = 26;
      const s = svg("svg", { viewBox: `0 0 ${W} ${H + 14}`, width: "100%",
                             "data-resource": k, preserveAspectRatio: "none" });
      s.style.height = "40px";
      s.appendChild(svg("rect", { x: 0, y: 2, width: W * cap / top, height: H,
                                  fill: "#eef1f4", stroke: "#c9d0d7" }));
      let x = 0;
      guests.forEach((g, i) => {
        const v = (g.shape && g.shape.res && g.shape.res[k]) || 0;
        if (v <= 0) return;
        const w = W * v / top;
        const r = svg("rect", { x: x, y: 4, width: Math.max(w - 0.5, 0.5), height: H - 4,
                                fill: guestColor(i), "fill-opacity": 0.75 });
        const t = svg("title");
        t.textContent = `${g.name || g.uuid}: ${fmt(v)} ${unit}`;
        r.appendChild(t);
        s.appendChild(r);
        x += w;
        drawn++;
      });
      if (ceiling <= top) {
        const xc = W * ceiling / top;
        s.appendChild(svg("line", { x1: xc, x2: xc, y1: 0, y2: H + 4, stroke: "#1d232a",
                                    "stroke-dasharray": "4 3" }));
      }
      const xu = W * used / top;
      s.appendChild(svg("rect", { x: Math.max(xu - 2, 0), y: 0, width: 4, height: H + 4,
                                  fill: "#1d232a" }));
      const label = svg("text", { x: 2, y: H + 13 });
      label.textContent = `0`;
      s.appendChild(label);
      const capLabel = svg("text", { x: Math.min(W * cap / top, W - 60), y: H + 13 });
      capLabel.textContent = `capacity ${fmt(cap)}`;
      s.appendChild(capLabel);

      const row = el("div", { class: "bar-row" });
      row.appendChild(el("div", { class: "name" }, `${k} (${unit})`));
      const cell = el("div");
      cell.appendChild(s);
      row.appendChild(cell);
      const pct = cap > 0 ? Math.round(100 * alloc / cap) : 0;
      row.appendChild(el("div", { class: "figures" },
        `shapes ${fmt(alloc)} of ${fmt(cap)} (${pct}%) · used ${fmt(used)} · ` +
        `ceiling ${fmt(ceiling)}`));
      box.appendChild(row);
    }
    status.plots.resourceBars = drawn;
  }

  /* ---- host: CPU map ---- */

  function drawCpuMap(host) {
    const box = $("#cpu-map");
    box.replaceChildren();
    const byNode = new Map();
    for (const c of host.cpu_load || []) {
      if (!byNode.has(c.node)) byNode.set(c.node, []);
      byNode.get(c.node).push(c);
    }
    const size = 18, gap = 3, perRow = 32;
    let count = 0;
    for (const [node, cpus] of byNode) {
      const rows = Math.ceil(cpus.length / perRow);
      const s = svg("svg", { width: perRow * (size + gap) + 80,
                             height: rows * (size + gap) + 4 });
      const t = svg("text", { x: 0, y: 13 });
      t.textContent = `node ${node}`;
      s.appendChild(t);
      cpus.forEach((c, i) => {
        const x = 60 + (i % perRow) * (size + gap);
        const y = Math.floor(i / perRow) * (size + gap) + 2;
        const load = Math.max(0, Math.min(1, c.entitled || 0));
        const r = svg("rect", { x, y, width: size, height: size, rx: 3,
          fill: c.reserved ? "#c9ced4" : `rgba(37, 99, 235, ${0.08 + 0.92 * load})`,
          stroke: "#9aa5b1", "stroke-width": 0.5 });
        const tt = svg("title");
        tt.textContent = c.reserved ? `cpu ${c.cpu}: reserved for the host`
                                    : `cpu ${c.cpu}: ${fmt(c.entitled)} vCPU entitled`;
        r.appendChild(tt);
        s.appendChild(r);
        count++;
      });
      box.appendChild(s);
    }
    status.plots.cpuMap = count;
  }

  /* ---- plots ---- */

  function plotBox(parent, title) {
    const wrap = el("div", { class: "plot" });
    wrap.appendChild(el("div", { class: "title" }, title));
    const target = el("div");
    wrap.appendChild(target);
    parent.appendChild(wrap);
    return target;
  }

  function plotWidth(parent) {
    const w = parent.clientWidth || 900;
    return Math.max(420, Math.min(w, 1400) / (w > 1100 ? 2 : 1) - 24);
  }

  function makePlot(target, width, series, data, extra) {
    const opts = Object.assign({
      width: width,
      height: 220,
      scales: { x: { time: true } },
      series: [{}].concat(series),
      axes: [{}, { size: 60 }],
      legend: { live: true },
    }, extra || {});
    const u = new uPlot(opts, data, target);
    state.plots.push(u);
    return u;
  }

  function emptyNote(parent, text) {
    parent.appendChild(el("div", { class: "empty" }, text));
  }

  function drawHostHistory(hist) {
    const box = $("#host-history");
    box.replaceChildren();
    if (!hist || !hist.t || hist.t.length < 2) {
      emptyNote(box, hist ? "No host snapshots in the last hour yet."
                          : "Host history needs the database.");
      status.plots.hostHistory = 0;
      return;
    }
    let points = 0;
    for (const [k, unit] of RES.slice(0, 2)) {
      const target = plotBox(box, `${k} (${unit})`);
      makePlot(target, plotWidth(box), [
        { label: "capacity", stroke: "#1d232a", width: 1.5 },
        { label: "shapes", stroke: "#2563eb", width: 2, fill: "rgba(37,99,235,0.08)" },
        { label: "used", stroke: "#dc2626", width: 1.5 },
      ], [hist.t, hist.capacity[k], hist.allocated[k], hist.used[k]]);
      points += hist.t.length;
    }
    status.plots.hostHistory = points;
  }

  /* The value of a step function (sorted [t, v] pairs) at time t. */
  function stepAt(steps, t, before) {
    let v = before;
    for (const [ts, val] of steps) {
      if (ts <= t) v = val; else break;
    }
    return v;
  }

  /* The band to draw for one resource: what each blueprint revision said
   * for its own steps (band_history), then the newest blueprint ahead. */
  function bandOf(detail, k) {
    const pts = new Map();
    const hist = detail.band_history;
    if (hist) {
      hist.t.forEach((t, i) => pts.set(t, [hist.p50[k][i], hist.p90[k][i], hist.p99[k][i],
                                           hist.alloc[k][i]]));
    }
    const bp = detail.blueprint ? detail.blueprint.blueprint : null;
    const r = bp && bp.resources[k];
    if (r) {
      const last = hist && hist.t.length ? hist.t[hist.t.length - 1] : -Infinity;
      r.p50.forEach((_, i) => {
        const t = bp.start + i * bp.step_s;
        if (t > last)
          pts.set(t, [r.p50[i], r.p90[i], r.p99[i], bp.alloc ? bp.alloc[k][i] : null]);
      });
    }
    return pts;
  }

  function drawGuest(detail) {
    const box = $("#guest-plots");
    box.replaceChildren();
    const name = detail.name || detail.uuid;
    $("#guest-title").textContent =
      `${name}: blueprint band, observed use and shape` +
      (detail.engine ? ` (model ${detail.engine.model}, confidence ${fmt(detail.engine.confidence)})` : "");
    const usage = detail.usage || { t: [], use: {} };
    const reshapes = (detail.reshapes || []).slice().sort((a, b) => a.at - b.at);
    const now = Math.floor(Date.now() / 1000);
    let points = 0;
    for (const [k, unit] of RES) {
      const use = usage.use[k] || [];
      /* vCPU and memory always; the others when the guest uses them */
      if (k !== "vcpu" && k !== "mem_mib" && !use.some((v) => v > 0)) continue;
      const band = bandOf(detail, k);
      const xs = new Set(usage.t);
      band.forEach((_, t) => xs.add(t));
      reshapes.forEach((r) => xs.add(r.at));
      xs.add(now);
      const x = Array.from(xs).sort((a, b) => a - b);
      const useAt = new Map(usage.t.map((t, i) => [t, use[i]]));
      const steps = reshapes.map((r) => [r.at, r.to.res[k]]);
      const current = detail.shape ? detail.shape.res[k] : null;
      const first = reshapes.length ? reshapes[0].from.res[k] : current;
      const col = (f) => x.map(f);
      const bandCol = (j) => col((t) => (band.has(t) ? band.get(t)[j] : null));
      const data = [
        x, bandCol(0), bandCol(1), bandCol(2),
        col((t) => (useAt.has(t) ? useAt.get(t) : null)),
        col((t) => (t <= now ? stepAt(steps, t, first) : null)),
        bandCol(3),
      ];
      const target = plotBox(box, `${k} (${unit})`);
      makePlot(target, plotWidth(box), [
        { label: "p50", stroke: "rgba(124,58,237,0.9)", width: 1, spanGaps: true },
        { label: "p90", stroke: "rgba(124,58,237,0.6)", width: 1, dash: [4, 3],
          spanGaps: true },
        { label: "p99", stroke: "rgba(124,58,237,0.5)", width: 1, spanGaps: true },
        { label: "used", stroke: "#2563eb", width: 1.5, spanGaps: true },
        { label: "shape", stroke: "#1d232a", width: 2.5,
          paths: uPlot.paths.stepped({ align: 1 }) },
        { label: "allocation", stroke: "#059669", width: 0,
          points: { show: true, size: 4, fill: "#059669" }, spanGaps: true },
      ], data, { bands: [{ series: [3, 1], fill: "rgba(124,58,237,0.13)" }] });
      points += usage.t.length + band.size;
    }
    status.plots.guest = points;
  }

  function drawGuestTable(guests) {
    const body = $("#guest-table tbody");
    body.replaceChildren();
    guests.forEach((g, i) => {
      const eng = g.engine || {};
      const shape = (g.shape && g.shape.res) || {};
      const use = eng.use || {};
      const tr = el("tr", { "data-uuid": g.uuid });
      if (g.uuid === state.selected) tr.classList.add("selected");
      const nameCell = el("td");
      nameCell.appendChild(el("span", { class: "swatch", style: `background:${guestColor(i)}` }));
      nameCell.appendChild(document.createTextNode(g.name || g.uuid));
      tr.appendChild(nameCell);
      const cells = [(g.flavor && g.flavor.name) || "–", fmt(shape.vcpu), fmt(use.vcpu),
                     fmt(shape.mem_mib), fmt(use.mem_mib), fmt(eng.reshapes),
                     eng.model || "–", fmt(eng.confidence)];
      for (const c of cells) tr.appendChild(el("td", {}, c));
      tr.addEventListener("click", () => {
        state.selected = g.uuid;
        refresh();
      });
      body.appendChild(tr);
    });
    status.plots.guestTable = guests.length;
  }

  /* The selected guest's latest events (GET /v1/events): requests from
   * Nova, memory hot-plug outcomes, changes behind sculpt's back. */
  function drawGuestEvents(events) {
    const body = $("#guest-events tbody");
    body.replaceChildren();
    const list = (events && events.events) || [];
    for (const e of list) {
      const tr = el("tr");
      if (e.code !== "OK") tr.classList.add("failed");
      const cells = [e.time || "–", e.source, e.action, e.code,
                     e.duration_ms == null ? "–" : fmt(e.duration_ms), e.message || ""];
      for (const c of cells) tr.appendChild(el("td", {}, String(c)));
      body.appendChild(tr);
    }
    $("#guest-events-note").textContent = !events ? "The event log needs the database."
      : !list.length ? "No event recorded for this guest."
      : events.more ? `The latest ${list.length}; sculptctl events --instance shows more.` : "";
    status.plots.guestEvents = list.length;
  }

  /* ---- reshape timeline ---- */

  function drawTimeline(timeline, guests, from, to) {
    const box = $("#reshape-timeline");
    box.replaceChildren();
    const lanes = new Map(guests.map((g, i) => [g.uuid, i]));
    const events = [];
    for (const r of timeline.reshapes || []) {
      const dv = r.to.res.vcpu - r.from.res.vcpu;
      const dm = r.to.res.mem_mib - r.from.res.mem_mib;
      const kind = !r.ok ? "failed" : dv > 1e-9 || (dv === 0 && dm > 0) ? "grow"
                 : dv < -1e-9 || dm < 0 ? "shrink" : "repin";
      events.push({ uuid: r.uuid, t: r.at, kind,
        text: `${r.time}: ${fmt(r.from.res.vcpu)} → ${fmt(r.to.res.vcpu)} vCPU, ` +
              `${fmt(r.from.res.mem_mib)} → ${fmt(r.to.res.mem_mib)} MiB — ${r.reason || ""}` +
              (r.ok ? "" : ` (failed: ${r.error || ""})`) });
    }
    if (!events.length) {
      /* Without a database, the engine's own decisions tell the same story. */
      const kinds = { grow: "grow", shrink: "shrink", squeeze: "shrink", repin: "repin" };
      for (const d of timeline.decisions || []) {
        if (!d.uuid || !kinds[d.decision]) continue;
        events.push({ uuid: d.uuid, t: d.t, kind: kinds[d.decision],
                      text: `${d.time}: ${d.decision} ${d.resource || ""} — ${d.text}` });
      }
    }
    for (const e of events)
      if (!lanes.has(e.uuid)) lanes.set(e.uuid, lanes.size);
    if (!lanes.size) {
      emptyNote(box, "No guests.");
      status.plots.timeline = 0;
      return;
    }
    const W = Math.max(box.clientWidth || 900, 600), lane = 22, left = 150;
    const H = lanes.size * lane + 24;
    const s = svg("svg", { width: W, height: H });
    const xOf = (t) => left + (W - left - 10) * (t - from) / (to - from);
    const names = new Map(guests.map((g) => [g.uuid, g.name || g.uuid]));
    for (const [uuid, i] of lanes) {
      const y = i * lane + 12;
      s.appendChild(svg("line", { x1: left, x2: W - 10, y1: y, y2: y, stroke: "#e3e7eb" }));
      const t = svg("text", { x: 0, y: y + 4 });
      t.textContent = (names.get(uuid) || uuid).slice(0, 22);
      s.appendChild(t);
    }
    for (let i = 0; i <= 6; i++) {
      const t = from + (to - from) * i / 6;
      const tx = svg("text", { x: xOf(t) - 16, y: H - 4 });
      tx.textContent = new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit",
                                                                     minute: "2-digit" });
      s.appendChild(tx);
    }
    const glyph = { grow: ["▲", "#059669"], shrink: ["▼", "#d97706"],
                    repin: ["◆", "#7c3aed"], failed: ["✖", "#dc2626"] };
    for (const e of events) {
      if (e.t < from || e.t > to) continue;
      const [g, c] = glyph[e.kind];
      const t = svg("text", { x: xOf(e.t) - 5, y: lanes.get(e.uuid) * lane + 16,
                              "data-kind": e.kind });
      t.style.fill = c;
      t.style.fontSize = "13px";
      t.textContent = g;
      const tt = svg("title");
      tt.textContent = e.text;
      t.appendChild(tt);
      s.appendChild(t);
    }
    box.appendChild(s);
    status.plots.timeline = events.length;
  }

  /* ---- pools ---- */

  function drawPools(pools, hist) {
    const box = $("#pool-plot");
    box.replaceChildren();
    const body = $("#pool-table tbody");
    body.replaceChildren();
    if (!pools) {
      emptyNote(box, "Pools need the database.");
      status.plots.pools = 0;
      return;
    }
    for (const p of pools.pools) {
      const tr = el("tr");
      const cells = [p.key, p.class.flavor || "any", p.class.image || "any", p.target_size,
                     p.size, fmt(p.confidence), p.hits, p.misses, p.expiries, p.reclaims];
      for (const c of cells) tr.appendChild(el("td", {}, String(c)));
      body.appendChild(tr);
    }
    const any = hist && hist.t.length &&
      (hist.arrivals.some((v) => v > 0) || hist.pool_size.some((v) => v > 0));
    if (!any) {
      emptyNote(box, "No arrivals or pool members in the last six hours.");
      status.plots.pools = 0;
      return;
    }
    const target = plotBox(box, `pool members against arrivals (per ${hist.step} s)`);
    makePlot(target, Math.min(box.clientWidth || 900, 1200), [
      { label: "arrivals", stroke: "#d97706", fill: "rgba(217,119,6,0.25)",
        paths: uPlot.paths.bars({ size: [0.8, 40] }) },
      { label: "served from a pool", stroke: "#059669", width: 2 },
      { label: "pool members", stroke: "#2563eb", width: 2,
        paths: uPlot.paths.stepped({ align: 1 }) },
    ], [hist.t, hist.arrivals, hist.hits, hist.pool_size]);
    status.plots.pools = hist.t.length;
  }

  /* ---- refresh ---- */

  function settled(r) {
    return r.status === "fulfilled" ? r.value : null;
  }

  async function refresh() {
    clearTimeout(state.timer);
    const now = Math.floor(Date.now() / 1000);
    const from = now - 3600;
    try {
      const [host, list] = await Promise.all([api("/v1/host"), api("/v1/instances")]);
      const guests = list.instances;
      if (!state.selected || !guests.some((g) => g.uuid === state.selected))
        state.selected = guests.length ? guests[0].uuid : null;
      const [hist, timeline, detail, pools, poolHist, events] = await Promise.allSettled([
        api(`/v1/host/history?from=${from}`),
        api(`/v1/reshapes?from=${from}&to=${now}`),
        state.selected ? api(`/v1/instances/${state.selected}?from=${from}`)
                       : Promise.resolve(null),
        api("/v1/pools"),
        api(`/v1/pools/history?from=${now - 6 * 3600}&step=300`),
        state.selected ? api(`/v1/events?instance=${state.selected}&limit=${GUEST_EVENTS}`)
                       : Promise.resolve(null),
      ]);
      if (detail.status === "rejected") throw detail.reason;
      if (timeline.status === "rejected") throw timeline.reason;

      state.plots.forEach((p) => p.destroy());
      state.plots = [];
      $("#host-name").textContent = host.host;
      $("#host-summary").textContent =
        `${host.guests} guests · ${host.topology.cpus} CPUs in ` +
        `${host.topology.numa_nodes.length} NUMA node(s) · contiguity ${fmt(host.contiguity)}` +
        (host.shortage ? " · SHORT of capacity" : "");
      drawResourceBars(host, guests);
      drawCpuMap(host);
      drawHostHistory(settled(hist));
      drawGuestTable(guests);
      if (detail.value) drawGuest(detail.value);
      else {
        $("#guest-plots").replaceChildren();
        emptyNote($("#guest-plots"), "No guest on this host.");
        status.plots.guest = 0;
      }
      drawGuestEvents(settled(events));
      drawTimeline(timeline.value, guests, from, now);
      drawPools(settled(pools), settled(poolHist));
      $("#login").hidden = true;
      status.renders++;
      status.ready = true;
      document.documentElement.dataset.ready = "1";
      setStatus(`updated ${new Date().toLocaleTimeString()}`);
    } catch (e) {
      if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
        needLogin(`${e.code}: ${e.message}`);
        return;
      }
      status.errors.push(String(e.message || e));
      setStatus(`cannot refresh: ${e.message || e}`, true);
    }
    state.timer = setTimeout(refresh, REFRESH_MS);
  }

  function start() {
    const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (m) {
      sessionStorage.setItem("sculpt-token", decodeURIComponent(m[1]));
      history.replaceState(null, "", location.pathname + location.search);
    }
    state.token = sessionStorage.getItem("sculpt-token");
    $("#login").addEventListener("submit", (ev) => {
      ev.preventDefault();
      state.token = $("#token").value.trim();
      sessionStorage.setItem("sculpt-token", state.token);
      refresh();
    });
    if (!state.token) {
      needLogin("a token is needed");
      return;
    }
    refresh();
  }

  start();
})();
