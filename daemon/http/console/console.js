// notion-syncd console: every action is a call of the control server's JSON API (the one the CLI
// and scripts use). No framework, no build step; data is put into the page with textContent
// only, never as HTML. The control token (when the server wants one) is kept in this tab's
// sessionStorage and sent as a bearer header: no cookies, so no cross-site request can act.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const tokenKey = "notion-syncd-token";
  let charts = {};

  class Unauthorized extends Error {}

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    const token = sessionStorage.getItem(tokenKey);
    if (token) headers.Authorization = "Bearer " + token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
    if (response.status === 401) throw new Unauthorized("the control server wants its token");
    const text = await response.text();
    let json = {};
    try {
      json = text ? JSON.parse(text) : {};
    } catch (e) {
      throw new Error(`${method} ${path}: answered ${response.status}, not JSON`);
    }
    if (!response.ok) throw new Error(`${method} ${path}: ${json.error || response.status}`);
    return json;
  }

  // ---- small DOM helpers: text only ----
  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text === undefined || text === null ? "" : String(text);
    if (className) td.className = className;
    return td;
  }
  function row(cells) {
    const tr = document.createElement("tr");
    for (const c of cells) tr.appendChild(c);
    return tr;
  }
  function button(label, onClick, name) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    if (name) b.setAttribute("aria-label", name);
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await onClick();
        await refresh();
      } catch (e) {
        report(e);
      } finally {
        b.disabled = false;
      }
    });
    return b;
  }
  function fill(table, rows, columns, emptyText) {
    const body = table.querySelector("tbody");
    body.replaceChildren();
    if (rows.length === 0) {
      const td = cell(emptyText, "empty");
      td.colSpan = columns;
      body.appendChild(row([td]));
      return;
    }
    for (const r of rows) body.appendChild(r);
  }
  function ago(iso) {
    if (!iso) return "never";
    const s = (Date.now() - Date.parse(iso)) / 1000;
    return duration(s) + " ago";
  }
  function duration(s) {
    if (s < 0 || !isFinite(s)) return "–";
    if (s < 90) return Math.round(s) + " s";
    if (s < 5400) return Math.round(s / 60) + " min";
    return (s / 3600).toFixed(1) + " h";
  }
  function json(value) {
    const pre = document.createElement("pre");
    pre.className = "value";
    pre.textContent = JSON.stringify(value, null, 1);
    const td = document.createElement("td");
    td.appendChild(pre);
    return td;
  }
  function report(e) {
    if (e instanceof Unauthorized) return showLogin(sessionStorage.getItem(tokenKey) ? "The token was refused." : "");
    $("error").textContent = e.message;
  }

  // ---- login ----
  function showLogin(message) {
    $("console").hidden = true;
    $("login").hidden = false;
    $("sign-out").hidden = true;
    $("summary").textContent = "Waiting for the control token";
    $("login-error").textContent = message || "";
    $("token").focus();
  }
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    sessionStorage.setItem(tokenKey, $("token").value);
    $("token").value = "";
    await refresh();
  });
  $("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(tokenKey);
    showLogin("");
  });

  // ---- overview ----
  function jobState(job, auth) {
    if (auth && auth.rejected) return ["auth rejected", "state-auth", auth.reason];
    if (job.last_error) return ["failing", "state-failing", job.last_error];
    if (job.lag_s < 0) return ["starting", "state-behind", "no good poll yet"];
    if (job.lag_s > 3 * job.every_s) return ["behind", "state-behind", `last good poll ${duration(job.lag_s)} ago`];
    return ["ok", "state-ok", ""];
  }

  function renderStatus(status) {
    const jobs = [];
    const targets = [];
    const held = [];
    let pending = 0;
    let dead = 0;
    for (const job of status.jobs) {
      const [state, className, reason] = jobState(job, status.auth);
      const stateCell = cell(state + (reason ? ": " + reason : ""), className);
      const pages = job.data_sources.reduce((n, s) => n + s.pages, 0);
      const next = job.last_attempt ? Date.parse(job.last_attempt) / 1000 + job.every_s - Date.now() / 1000 : 0;
      const actions = document.createElement("td");
      actions.appendChild(button("Sync now", () => api("POST", `/v1/jobs/${encodeURIComponent(job.name)}/sync`), `Sync ${job.name} now`));
      jobs.push(row([cell(job.name), stateCell, cell(ago(job.last_success)), cell(duration(job.lag_s)),
                     cell(next > 0 ? "in " + duration(next) : "due"), cell(pages, "num"),
                     cell(job.data_sources.map((s) => s.title || s.data_source_id).join(", ")), actions]));
      for (const t of job.targets) {
        pending += t.pending;
        dead += t.dead_letters;
        const twoWay = t.two_way ? `${t.two_way.conflicts_open} conflicts, ${t.two_way.held_writes} held writes, ${t.two_way.pages_written} pages written` : "one-way";
        targets.push(row([cell(t.target), cell(t.cursor, "num"), cell(t.pending, "num"), cell(ago(t.last_delivered)),
                          cell(t.last_error || ""), cell(t.dead_letters, "num"), cell(twoWay)]));
      }
      for (const h of job.held_delete_pages) {
        const decide = document.createElement("td");
        const path = `/v1/held-deletes/${encodeURIComponent(job.name)}/${encodeURIComponent(h.page_id)}`;
        decide.appendChild(button("Approve", () => api("POST", path, { decision: "approve" }), `Approve the delete of ${h.title || h.page_id}`));
        decide.appendChild(button("Keep", () => api("POST", path, { decision: "keep" }), `Keep ${h.title || h.page_id}`));
        held.push(row([cell(job.name), cell(h.title ? `${h.title} (${h.page_id})` : h.page_id), cell(h.detected_at), decide]));
      }
    }
    fill($("jobs"), jobs, 8, "No sync jobs.");
    fill($("targets"), targets, 7, "No targets.");
    fill($("held"), held, 4, "No deletes are held.");
    const b = status.budget;
    $("summary").textContent = `${status.jobs.length} jobs · ${b.used_last_minute} of ${b.per_minute} requests in the last minute · ${pending} events pending · ${dead} dead letters`;
  }

  function renderConflicts(list) {
    const rows = list.conflicts.map((c) => {
      const resolve = document.createElement("td");
      const path = `/v1/conflicts/${c.id}/resolve`;
      resolve.appendChild(button("Take Notion's", () => api("POST", path, { take: "notion" }), `Conflict ${c.id}: take Notion's value`));
      resolve.appendChild(button("Take the target's", () => api("POST", path, { take: "external" }), `Conflict ${c.id}: take the target's value`));
      resolve.appendChild(button("Edit…", async () => {
        const text = window.prompt(`A value for ${c.property} (JSON, e.g. "Done" or 8)`, JSON.stringify(c.notion));
        if (text === null) return;
        await api("POST", path, { take: "value", value: JSON.parse(text) });
      }, `Conflict ${c.id}: write another value`));
      return row([cell(c.target), cell(c.page_id, "mono"), cell(c.property), json(c.notion), json(c.external), resolve]);
    });
    fill($("conflicts"), rows, 6, "No conflicts wait for a decision.");
  }

  function renderDeadLetters(list) {
    const rows = list.dead_letters.map((d) => {
      const actions = document.createElement("td");
      actions.appendChild(button("Retry", () => api("POST", `/v1/dead-letters/${d.id}/retry`), `Retry dead letter ${d.id}`));
      actions.appendChild(button("Drop", () => api("POST", `/v1/dead-letters/${d.id}/drop`), `Drop dead letter ${d.id}`));
      return row([cell(d.target), cell(`#${d.seq} ${d.kind || ""}`), cell(d.page_id, "mono"), cell(d.error), actions]);
    });
    fill($("dead"), rows, 5, "No dead letters.");
  }

  // ---- charts (uPlot) ----
  function chart(id, series, data) {
    const element = $(id);
    const width = Math.max(320, element.clientWidth || 520);
    const options = {
      width, height: 220,
      series: [{}].concat(series),
      axes: [{}, { size: 60 }],
      legend: { live: false },
    };
    if (charts[id]) charts[id].destroy();
    charts[id] = new uPlot(options, data, element);
    element.dataset.points = String(data[0].length);
  }

  const palette = ["#0550ae", "#a40e26", "#116329", "#7d4e00", "#6639ba", "#1b7c83", "#953800"];
  function renderHistory(history) {
    if (typeof uPlot === "undefined") return;
    const s = history.samples;
    const t = s.map((x) => x.t);
    const keys = (field) => [...new Set(s.flatMap((x) => Object.keys(x[field] || {})))].sort();
    chart("chart-requests", [
      { label: "requests/min", stroke: palette[0], width: 2 },
      { label: "budget/min", stroke: palette[2], dash: [6, 4] },
      { label: "429s", stroke: palette[1], width: 0, points: { show: true, size: 7, fill: palette[1] } },
    ], [t, s.map((x) => x.requests), s.map((x) => x.budget), s.map((x) => (x.rate_limited > 0 ? x.rate_limited : null))]);
    const jobs = keys("lag");
    chart("chart-lag", jobs.map((j, i) => ({ label: j, stroke: palette[i % palette.length], width: 2 })),
          [t].concat(jobs.map((j) => s.map((x) => (x.lag && j in x.lag ? x.lag[j] : null)))));
    const targets = keys("pending");
    chart("chart-events",
          targets.flatMap((k, i) => [
            { label: k + " delivered/min", stroke: palette[i % palette.length], width: 2 },
            { label: k + " pending", stroke: palette[i % palette.length], dash: [4, 4] },
          ]),
          [t].concat(targets.flatMap((k) => [s.map((x) => (x.delivered || {})[k] ?? null), s.map((x) => (x.pending || {})[k] ?? null)])));
    chart("chart-conflicts", [{ label: "conflicts open", stroke: palette[4], width: 2 }], [t, s.map((x) => x.conflicts_open)]);
  }

  // ---- plan ----
  $("plan-load").addEventListener("click", async () => {
    $("plan-load").disabled = true;
    try {
      const plan = await api("GET", "/v1/plan");
      const rows = plan.actions.map((a) => row([cell(a.direction === "to_notion" ? "to Notion" : "to the target"), cell(a.sync), cell(a.target),
                                                 cell(a.page_id, "mono"), cell(a.kind), cell(a.decision || "")]));
      $("plan").hidden = false;
      fill($("plan"), rows, 6, "The next cycle has nothing to do.");
    } catch (e) {
      report(e);
    } finally {
      $("plan-load").disabled = false;
    }
  });

  async function refresh() {
    try {
      const [status, conflicts, dead, history] = await Promise.all([
        api("GET", "/v1/status"), api("GET", "/v1/conflicts"), api("GET", "/v1/dead-letters"), api("GET", "/v1/history"),
      ]);
      $("login").hidden = true;
      $("console").hidden = false;
      $("sign-out").hidden = !sessionStorage.getItem(tokenKey);
      $("error").textContent = "";
      renderStatus(status);
      renderConflicts(conflicts);
      renderDeadLetters(dead);
      renderHistory(history);
    } catch (e) {
      report(e);
    }
  }

  refresh();
  setInterval(() => { if (!$("console").hidden) refresh(); }, 15000);
})();
