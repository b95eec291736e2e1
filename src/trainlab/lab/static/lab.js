// trainlab lab: live charts (plotly.js, served by the lab) fed by server-sent events. No inline script:
// pages carry their data in data-* attributes; this file finds them.
"use strict";

const COLORS = { train: "#1f77b4", val: "#ff7f0e", batch: "#9ecae1" };
const layout = (title, ytitle) => ({
  title: { text: title }, margin: { l: 50, r: 10, t: 35, b: 35 }, xaxis: { title: { text: "epoch" } },
  yaxis: { title: { text: ytitle } }, legend: { orientation: "h" },
  paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
});
const line = (name, color, dash) => ({ x: [], y: [], name, mode: "lines+markers", line: { color, dash }, marker: { size: 4 } });

function note(text, cls) {
  const ul = document.getElementById("notes");
  if (!ul) return;
  const li = document.createElement("li");
  li.textContent = text;  // text, never markup: hostile run text stays text
  if (cls) li.className = cls;
  ul.appendChild(li);
}

function setStatus(state) {
  const el = document.getElementById("status");
  if (el) { el.textContent = state.status; el.dataset.status = state.status; }
  const toggle = (id, show) => { const f = document.getElementById(id); if (f) f.hidden = !show; };
  toggle("stop-form", state.stoppable);
  toggle("resume-form", state.resumable);
  toggle("report", state.report);
}

function runPage(root) {
  const loss = document.getElementById("chart-loss");
  const acc = document.getElementById("chart-accuracy");
  const lr = document.getElementById("chart-lr");
  // traces: loss [batch, train, val]; accuracy [batch, train, val]; lr [lr]
  Plotly.newPlot(loss, [line("train (within epoch)", COLORS.batch, "dot"), line("train", COLORS.train), line("val", COLORS.val)], layout("loss", "loss"), { responsive: true });
  Plotly.newPlot(acc, [line("train (within epoch)", COLORS.batch, "dot"), line("train", COLORS.train), line("val", COLORS.val)], layout("accuracy", "accuracy"), { responsive: true });
  Plotly.newPlot(lr, [line("learning rate", COLORS.train)], { ...layout("learning rate", "lr"), yaxis: { title: { text: "lr" }, type: "log" } }, { responsive: true });
  root.dataset.points = "0";
  // points are buffered and drawn together at most every 50 ms: a page opened late replays thousands of
  // events, and one redraw per event would keep the browser busy for minutes
  const pending = new Map();
  let timer = null, epochs = 0, lastT = 0;
  const flush = () => {
    timer = null;
    for (const [div, traces] of pending) {
      const idx = [...traces.keys()];
      Plotly.extendTraces(div, { x: idx.map((i) => traces.get(i).x), y: idx.map((i) => traces.get(i).y) }, idx);
    }
    pending.clear();
    root.dataset.points = String(epochs);
    if (lastT) {  // the delay from the last epoch's end (written by the run) to its point on this screen
      const delay = Date.now() / 1000 - lastT;
      root.dataset.delay = delay.toFixed(3);
      document.getElementById("latency").textContent = `(last epoch on screen ${(delay * 1000).toFixed(0)} ms after it ended)`;
      lastT = 0;
    }
  };
  const add = (div, traces, xs, ys) => {
    traces.forEach((t, k) => {
      if (ys[k] === null || ys[k] === undefined) return;
      if (!pending.has(div)) pending.set(div, new Map());
      const m = pending.get(div);
      if (!m.has(t)) m.set(t, { x: [], y: [] });
      m.get(t).x.push(xs);
      m.get(t).y.push(ys[k]);
    });
    if (timer === null) timer = setTimeout(flush, 50);
  };
  const source = new EventSource(root.dataset.events);
  source.onmessage = (msg) => {
    const e = JSON.parse(msg.data);
    if (e.kind === "start") {
      if (e.header) document.getElementById("header").textContent = e.header;
      if (e.initial_loss !== null && e.initial_loss !== undefined && e.epoch === 0) {
        const exp = e.expected_initial_loss ? ` (expected ${e.expected_initial_loss.toFixed(4)})` : "";
        note(`initial loss ${e.initial_loss.toFixed(4)}${exp}`, "initial");
      }
      if (e.epoch > 0) note(`resumed at step ${e.step} (epoch ${e.epoch + 1})`, "resume");
    } else if (e.kind === "batch") {
      add(loss, [0], e.x, [e.train_loss]);
      if (e.train_accuracy !== undefined) add(acc, [0], e.x, [e.train_accuracy]);
    } else if (e.kind === "epoch") {
      const m = e.metrics;
      add(loss, [0, 1, 2], m.epoch, [m.train_loss, m.train_loss, m.val_loss === undefined ? null : m.val_loss]);
      add(acc, [0, 1, 2], m.epoch, [m.train_accuracy === undefined ? null : m.train_accuracy, m.train_accuracy === undefined ? null : m.train_accuracy,
        m.val_accuracy === undefined ? null : m.val_accuracy]);
      add(lr, [0], m.epoch, [m.lr]);
      epochs += 1;
      lastT = e.t || 0;
    } else if (e.kind === "warning") {
      note(`warning: ${e.text}`, "warning");
    } else if (e.kind === "end") {
      if (e.stop_reason) note(e.stop_reason, "end");
    } else if (e.kind === "status") {
      setStatus(e);
    }
  };
  source.addEventListener("end", () => source.close());
}

function followJob(id, onRun, onState) {
  const poll = () => fetch(`/api/jobs/${encodeURIComponent(id)}`, { credentials: "same-origin" })
    .then((r) => r.json())
    .then((job) => {
      if (onState) onState(job);
      if (job.run) onRun(job.run);
      else if (job.state === "done" || job.state === "cancelled") {
        const pre = document.createElement("pre");
        pre.className = "error";
        pre.textContent = job.log || `the run ended (exit ${job.returncode}) before its folder was made`;
        document.body.appendChild(pre);
      } else setTimeout(poll, 250);
    });
  poll();
}

function jobPage(root) {
  followJob(root.dataset.job, (run) => { window.location.assign(`/runs/${encodeURIComponent(run)}`); },
    (job) => { document.getElementById("job-state").textContent = job.state; });
}

function playground(root) {
  const boundary = document.getElementById("chart-boundary");
  const loss = document.getElementById("chart-loss");
  Plotly.newPlot(boundary, [], { ...layout("prediction", "x2"), xaxis: { title: { text: "x1" } } }, { responsive: true });
  Plotly.newPlot(loss, [line("train", COLORS.train), line("val", COLORS.val)], layout("loss", "loss"), { responsive: true });
  root.dataset.grids = "0";
  if (!root.dataset.job) return;
  let points = null, latest = null, drawTimer = null;
  const status = document.getElementById("status");
  followJob(root.dataset.job, (run) => {
    const link = document.getElementById("run-link");
    link.href = `/runs/${encodeURIComponent(run)}`;
    link.hidden = false;
    const source = new EventSource(`/runs/${encodeURIComponent(run)}/events`);
    source.onmessage = (msg) => {
      const e = JSON.parse(msg.data);
      if (e.kind === "points") points = e;
      else if (e.kind === "status") status.textContent = e.status;
      else if (e.kind === "epoch") {
        const m = e.metrics;
        Plotly.extendTraces(loss, { x: [[m.epoch], [m.epoch]], y: [[m.train_loss], [m.val_loss === undefined ? null : m.val_loss]] }, [0, 1]);
      } else if (e.kind === "grid" && points) {
        latest = e;  // replayed grids are skipped: only the newest is drawn, at most every 50 ms
        if (drawTimer === null) drawTimer = setTimeout(draw, 50);
      }
    };
    const draw = () => {
      drawTimer = null;
      const e = latest;
      {
        const traces = [];
        if (e.axes.length === 2) {
          const [ax, ay] = e.axes;
          const z = ay.map((_, j) => ax.map((_, i) => e.z[i * ay.length + j]));
          traces.push({ type: "heatmap", x: ax, y: ay, z, colorscale: "RdBu", zmin: 0, zmax: points.task === "classification" ? Math.max(1, ...points.y) : undefined, showscale: false, opacity: 0.8 });
          traces.push({ type: "scatter", mode: "markers", x: points.x.map((p) => p[0]), y: points.x.map((p) => p[1]),
            marker: { color: points.y, colorscale: "RdBu", size: 6, line: { width: 1, color: "#333" } }, name: "train" });
        } else {
          traces.push({ type: "scatter", mode: "markers", x: points.x.map((p) => p[0]), y: points.y, name: "train", marker: { size: 4 } });
          traces.push({ type: "scatter", mode: "lines", x: e.axes[0], y: e.z, name: `model, epoch ${e.epoch}` });
        }
        Plotly.react(boundary, traces, { ...layout(`epoch ${e.epoch}`, "x2"), xaxis: { title: { text: "x1" } } });
        root.dataset.grids = String(Number(root.dataset.grids) + 1);
      }
    };
    source.addEventListener("end", () => source.close());
  }, (job) => { status.textContent = job.state; });
}

document.addEventListener("DOMContentLoaded", () => {
  const live = document.getElementById("live");
  if (live) runPage(live);
  const job = document.getElementById("job");
  if (job) jobPage(job);
  const pg = document.getElementById("playground");
  if (pg) playground(pg);
});
