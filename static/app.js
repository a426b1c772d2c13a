// taskhook inspector: copy buttons, keyboard navigation, live rows over SSE, relative times.
// Captured data is only ever written with textContent / setAttribute, never innerHTML.
"use strict";

(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  // Kept in localStorage (this inspector's origin only): pinned request ids, and whether the
  // list groups a task's callbacks. Declared first: a pane opened with ?open=ID reads them
  // while the script is still starting.
  const PINS = "taskhook.pins";
  const GROUP = "taskhook.group";
  let grouping = false;
  try { grouping = localStorage.getItem(GROUP) === "on"; } catch (_) { /* private mode */ }
  // Tasks whose group is open (this page only).
  const opened = new Set();
  // The colour of a callback's mark on a task's mini timeline, by its event.
  const MARKS = {
    "task.created": "neutral", "reservation.created": "pending", "reservation.accepted": "ok",
    "reservation.rejected": "warn", "reservation.timeout": "warn", "reservation.canceled": "warn",
    "reservation.rescinded": "warn", "reservation.completed": "ok", "reservation.wrapup": "neutral",
    "task.updated": "neutral", "task-queue.entered": "neutral", "task-queue.moved": "neutral",
    "task.wrapup": "neutral", "task.completed": "ok", "task.canceled": "err", "task.deleted": "neutral",
  };

  // ---- toast ------------------------------------------------------------------------------
  let toastTimer = null;
  function toast(text) {
    const el = $("#toast");
    if (!el) return;
    el.textContent = text;
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.hidden = true; }, 1600);
  }

  // ---- copy -------------------------------------------------------------------------------
  function fallbackCopy(text) {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (_) { ok = false; }
    area.remove();
    return ok;
  }
  function copy(text) {
    const done = () => toast("Copied " + (text.length > 60 ? text.slice(0, 57) + "…" : text));
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, () => { if (fallbackCopy(text)) done(); });
    } else if (fallbackCopy(text)) {
      done();
    }
  }
  document.addEventListener("click", (e) => {
    const button = e.target.closest("button.copy[data-copy]");
    if (button) {
      e.preventDefault();
      e.stopPropagation();
      copy(button.getAttribute("data-copy"));
      return;
    }
    // Whole rows are clickable; links and buttons inside keep their own behaviour. On the list
    // a plain click shows the request in the pane instead of loading its page.
    const row = e.target.closest("tr[data-href]");
    const plain = !(e.metaKey || e.ctrlKey || e.shiftKey || e.altKey || e.button);
    // A task's group row opens and closes its callbacks (its task link keeps its own job).
    if (row && row.classList.contains("group") && !e.target.closest("a")) {
      e.preventDefault();
      select(rows().indexOf(row), { focus: !e.target.closest("button") });
      toggleGroup(row);
      return;
    }
    if (row && $("#pane") && row.closest("#requests") && plain
        && (!e.target.closest("a, button, input, select, summary") || e.target.closest("a.req"))) {
      e.preventDefault();
      select(rows().indexOf(row), { show: true });
      return;
    }
    if (row && !e.target.closest("a, button, input, select")) {
      window.location.assign(row.getAttribute("data-href"));
    }
  });

  // ---- tabs -------------------------------------------------------------------------------
  // `[data-tabs]` boxes hold a tablist and the panels its tabs control. Without JavaScript every
  // panel shows, one under the other; here one shows at a time (WAI-ARIA tabs: arrows, Home, End).
  function tabsOf(box) {
    return $$("[role=tablist]", box).filter((l) => l.closest("[data-tabs]") === box)
      .flatMap((l) => $$("[role=tab]", l));
  }
  function showTab(box, tab) {
    tabsOf(box).forEach((t) => {
      const on = t === tab;
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
      const panel = document.getElementById(t.getAttribute("aria-controls"));
      if (panel) panel.hidden = !on;
    });
    box.dispatchEvent(new CustomEvent("tabshown", { detail: tab, bubbles: true }));
  }
  function setupTabs(root) {
    $$("[data-tabs]", root).forEach((box) => {
      if (box.hasAttribute("data-tabs-on")) return;
      const tabs = tabsOf(box);
      if (!tabs.length) return;
      box.setAttribute("data-tabs-on", "");
      tabs.forEach((t) => { t.closest("[role=tablist]").hidden = false; });
      showTab(box, tabs.find((t) => t.getAttribute("aria-selected") === "true") || tabs[0]);
      tabs.forEach((t, i) => {
        t.addEventListener("click", () => showTab(box, t));
        t.addEventListener("keydown", (e) => {
          const n = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
          if (n === undefined) return;
          e.preventDefault();
          e.stopPropagation();
          const next = tabs[(n + tabs.length) % tabs.length];
          showTab(box, next);
          next.focus();
        });
      });
    });
  }
  // A large body's other tabs come without their text (templates/macros.html, body_tabs): it
  // is fetched when the tab is first chosen, as plain text, and set with textContent.
  async function loadShown(el) {
    const src = el.getAttribute("data-src");
    if (!src || el.getAttribute("aria-busy") === "true" || !window.fetch) return;
    el.setAttribute("aria-busy", "true");
    try {
      const res = await fetch(src, { credentials: "same-origin", headers: { "Accept": "text/plain" } });
      if (res.ok) {
        el.textContent = await res.text();
        el.removeAttribute("data-src");
      } else toast("Could not load the body: HTTP " + res.status);
    } catch (err) {
      toast("taskhook did not answer: " + err);
    }
    el.removeAttribute("aria-busy");
  }
  document.addEventListener("tabshown", (e) => {
    const panel = document.getElementById(e.detail.getAttribute("aria-controls"));
    if (!panel) return;
    const lazy = panel.matches("[data-src]") ? panel : $("[data-src]", panel);
    if (lazy) loadShown(lazy);
  });
  setupTabs(document);

  // ---- keyboard, selection and the split view ---------------------------------------------
  // The selected row is the one focusable row (roving tabindex) and carries aria-selected. On the
  // list, the selection's detail shows in the pane (beside the list from 1280 px, over it below),
  // fetched as a server-rendered fragment; `?open=ID` in the URL makes it shareable and Back
  // meaningful.
  // Rows j / k move over: collapsed members of a task's group are skipped (its group row is
  // selectable instead).
  function rows() { return $$("table.requests tbody tr[data-href]:not([hidden]), table.reservations tbody tr[data-href]"); }
  const wide = window.matchMedia("(min-width: 1280px)");
  function select(index, opts) {
    const o = opts || {};
    const all = rows();
    if (!all.length) return;
    const i = Math.max(0, Math.min(all.length - 1, index));
    all.forEach((r) => { r.classList.remove("selected"); r.tabIndex = -1; r.setAttribute("aria-selected", "false"); });
    const row = all[i];
    row.classList.add("selected");
    row.tabIndex = 0;
    row.setAttribute("aria-selected", "true");
    if (o.focus !== false) row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
    // A group row shows its newest callback.
    const id = row.getAttribute("data-id") || row.getAttribute("data-open");
    const pane = $("#pane");
    if (pane && id && row.closest("#requests") && (o.show || !pane.hidden || wide.matches)) showPane(id, o.push !== false);
  }
  function openParam() { return new URLSearchParams(location.search).get("open"); }
  function urlWithOpen(id) {
    const params = new URLSearchParams(location.search);
    if (id) params.set("open", id); else params.delete("open");
    const q = params.toString();
    return location.pathname + (q ? "?" + q : "");
  }
  let paneFor = null, paneAbort = null;
  async function showPane(id, push, against) {
    const pane = $("#pane");
    if (!pane || !window.fetch) { window.location.assign("/requests/" + id); return; }
    if (push && openParam() !== String(id)) history.pushState({ open: String(id) }, "", urlWithOpen(id));
    if (paneFor === String(id) && !against && !pane.hidden) return;
    paneFor = String(id);
    if (paneAbort) paneAbort.abort();
    paneAbort = new AbortController();
    let html;
    try {
      const res = await fetch("/requests/" + id + "/panel" + (against ? "?against=" + encodeURIComponent(against) : ""),
        { credentials: "same-origin", headers: { "Accept": "text/html" }, signal: paneAbort.signal });
      html = await res.text();
      if (!res.ok) {
        // The error page's message, as text.
        const doc = new DOMParser().parseFromString(html, "text/html");
        const msg = doc.querySelector(".error-page p");
        html = null;
        toast("Request #" + id + ": " + (msg ? msg.textContent : "HTTP " + res.status));
        return;
      }
    } catch (err) {
      if (err.name !== "AbortError") toast("taskhook did not answer: " + err);
      return;
    }
    // The server escaped every captured byte; parsing its fragment is what loading its page
    // would do (scripts in parsed documents never run, and the CSP forbids inline ones anyway).
    const doc = new DOMParser().parseFromString(html, "text/html");
    const article = doc.querySelector("article.request-detail");
    if (!article) return;
    const content = $("#pane-content");
    content.replaceChildren(document.adoptNode(article));
    openPane();
    preparePane(content, against);
  }
  function preparePane(content, against) {
    setupTabs(content);
    tick();
    markPins();
    fillPinnedChoices();
    if (against) {
      const tab = $("#t-diff", content);
      if (tab) tab.click();
    }
    $$("time[data-us]", content).forEach((t) => { t.textContent = relative(Number(t.getAttribute("data-us"))); });
  }
  function openPane() {
    const pane = $("#pane");
    pane.hidden = false;
    $("#split").classList.add("open");
    document.body.classList.toggle("pane-over", !wide.matches);
    fitGroupSpans();
    if (!wide.matches) { const t = $("#detail-title", pane); if (t) { t.tabIndex = -1; t.focus(); } }
  }
  function closePane(push) {
    const pane = $("#pane");
    if (!pane || pane.hidden) return;
    pane.hidden = true;
    paneFor = null;
    $("#split").classList.remove("open");
    document.body.classList.remove("pane-over");
    $("#pane-content").replaceChildren();
    fitGroupSpans();
    if (push) history.pushState({}, "", urlWithOpen(null));
    const sel = $("#requests tr.selected");
    if (sel) sel.focus({ preventScroll: true });
  }
  window.addEventListener("popstate", () => {
    const id = openParam();
    if (id) {
      const i = rows().findIndex((r) => r.getAttribute("data-id") === id);
      if (i >= 0) select(i, { show: true, push: false, focus: false }); else showPane(id, false);
    } else closePane(false);
  });
  document.addEventListener("click", (e) => {
    if (e.target.closest("#pane-close")) closePane(true);
  });
  (function initSelection() {
    const all = rows();
    if (!all.length) return;
    const id = openParam();
    const i = id ? all.findIndex((r) => r.getAttribute("data-id") === id) : -1;
    if (i >= 0) {
      all[i].classList.add("selected"); all[i].tabIndex = 0; all[i].setAttribute("aria-selected", "true");
      paneFor = id;
      if ($("#pane")) { openPane(); preparePane($("#pane-content")); }
    } else {
      all[0].tabIndex = 0;
    }
  })();
  document.addEventListener("keydown", (e) => {
    const typing = e.target.closest("input, select, textarea");
    if (e.key === "Escape" && typing) { e.target.blur(); return; }
    if (typing || e.metaKey || e.ctrlKey || e.altKey) return;
    if (e.target.closest("[role=tab]") && (e.key === "Enter" || e.key === " ")) return;
    const all = rows();
    const current = all.findIndex((r) => r.classList.contains("selected"));
    if (e.key === "j") { select(current + 1); e.preventDefault(); }
    else if (e.key === "k") { select(current < 0 ? 0 : current - 1); e.preventDefault(); }
    else if (current >= 0 && all[current].classList.contains("group") && !e.target.closest("a, button, summary")
      && (e.key === "Enter" || ((e.key === "ArrowRight" || e.key === "ArrowLeft") && e.target === all[current]))) {
      const open = all[current].querySelector("button.disclose").getAttribute("aria-expanded") === "true";
      if (e.key === "Enter" || (e.key === "ArrowRight") !== open) toggleGroup(all[current]);
      e.preventDefault();
    }
    else if (e.key === "g" && $("#group")) { setGrouping(!grouping); e.preventDefault(); }
    else if (e.key === "Enter" && current >= 0 && !e.target.closest("a, button, summary")) { window.location.assign(all[current].getAttribute("data-href")); }
    else if (e.key === "Escape") { closePane(true); }
    else if (e.key === "/") { const s = $("#search"); if (s) { s.focus(); e.preventDefault(); } }
  });

  // ---- pause, pins, clocks -----------------------------------------------------------------
  // Space pauses live rows ("N new" collects them; a click or Space shows them). Pinned requests
  // float to the top of the list and are kept across reloads (localStorage, this inspector's
  // origin only); the Diff tab offers them to compare with.
  let paused = false;
  const held = new Map();
  function showHeld() {
    const n = $("#new-count");
    if (!n) return;
    n.hidden = !paused || held.size === 0;
    n.textContent = held.size + " new";
  }
  function setPaused(on) {
    const button = $("#pause");
    if (!button) return;
    paused = on;
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.textContent = on ? "Resume" : "Pause";
    if (!on) {
      const table = $("#requests");
      const waiting = Array.from(held.values()).sort((a, b) => a.id - b.id);
      held.clear();
      waiting.forEach((r) => addRow(table, r));
    }
    showHeld();
    const live = $("#live-status");
    if (live && live.classList.contains("on")) live.textContent = on ? "paused" : "live";
  }
  document.addEventListener("click", (e) => {
    if (e.target.closest("#pause")) setPaused(!paused);
    else if (e.target.closest("#new-count")) setPaused(false);
  });
  document.addEventListener("keydown", (e) => {
    if (e.key !== " " || e.metaKey || e.ctrlKey || e.altKey || !$("#pause")) return;
    if (e.target.closest("input, select, textarea, button, a, summary, [role=tab]")) return;
    e.preventDefault();
    setPaused(!paused);
  });

  function pins() {
    try {
      const list = JSON.parse(localStorage.getItem(PINS) || "[]");
      return Array.isArray(list) ? list.filter((n) => Number.isInteger(n) && n > 0) : [];
    } catch (_) { return []; }
  }
  function setPins(list) {
    try { localStorage.setItem(PINS, JSON.stringify(list)); } catch (_) { /* private mode: pins last this page */ }
  }
  function markPins() {
    const list = pins();
    $$("button[data-pin]").forEach((b) => {
      const on = list.includes(Number(b.getAttribute("data-pin")));
      b.setAttribute("aria-pressed", on ? "true" : "false");
      if (b.classList.contains("pin-toggle")) b.textContent = on ? "Unpin" : "Pin";
      else b.textContent = on ? "★" : "☆";
    });
    arrange();
    const count = $("#pin-count");
    if (count) count.textContent = list.length ? list.length + " pinned" : "";
    clocks();
  }
  document.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-pin]");
    if (!b) return;
    e.preventDefault();
    e.stopPropagation();
    const id = Number(b.getAttribute("data-pin"));
    const list = pins();
    const on = list.includes(id);
    setPins(on ? list.filter((n) => n !== id) : [id].concat(list).slice(0, 50));
    if (on) $$(`#requests tr.off-page[data-id="${id}"]`).forEach((r) => r.remove());
    markPins();
    fillPinnedChoices();
    toast((on ? "Unpinned #" : "Pinned #") + id);
  }, true);
  window.addEventListener("storage", (e) => {
    if (e.key === PINS) { markPins(); fillPinnedChoices(); fetchPinnedRows(); }
    if (e.key === GROUP) setGrouping(e.newValue === "on", false);
  });

  // Pinned requests that are not on this page (older than it, or newer than an older page)
  // come as server-rendered rows (/requests/{id}/row, the same markup as the list's) and join
  // the pins on top. Only on an unfiltered list: a filter shows what matches it.
  async function fetchPinnedRows() {
    const table = $("#requests");
    if (!table || !window.fetch || table.getAttribute("data-filtered") === "yes") return;
    const body = $("tbody", table);
    const missing = pins().filter((id) => !$(`tr[data-id="${id}"]`, body));
    let added = 0;
    for (const id of missing) {
      let res;
      try {
        res = await fetch("/requests/" + id + "/row", { credentials: "same-origin", headers: { "Accept": "text/html" } });
      } catch (_) { continue; }
      // Deleted since it was pinned (retention, Clear all): nothing left to keep on top.
      if (res.status === 404) { setPins(pins().filter((n) => n !== id)); continue; }
      if (!res.ok) continue;
      // Escaped by the server like the list itself; parsing runs no script (see showPane).
      const doc = new DOMParser().parseFromString(await res.text(), "text/html");
      const row = doc.querySelector("tbody tr[data-id]");
      if (!row || row.getAttribute("data-id") !== String(id) || $(`tr[data-id="${id}"]`, body)) continue;
      row.classList.add("off-page");
      const note = document.createElement("span");
      note.className = "badge off-page-note";
      note.textContent = "pinned · not on this page";
      const req = $("td.c-req", row);
      if (req) req.appendChild(note);
      body.appendChild(document.adoptNode(row));
      added++;
    }
    if (added) { markPins(); tick(); }
    const count = $("#pin-count");
    if (count) count.textContent = pins().length ? pins().length + " pinned" : "";
  }


  // ---- group by task ------------------------------------------------------------------------
  // With "Group by task" on, the rows of one TaskSid (two or more, pins aside) fold into one
  // group row where the newest of them is: the task, how many callbacks, the latest event and
  // its time, and a mini timeline with a mark per callback, oldest first. Its button (or Enter,
  // or a click on the row) opens the callbacks beneath it. Everything is built from the rows
  // already on the page, with textContent only; live rows join their group as they arrive.
  function kindOf(row) {
    return row.classList.contains("kind-assignment") ? "assignment" : row.classList.contains("kind-event") ? "event" : "other";
  }
  function eventOf(row) { const k = $(".c-kind .kind", row); return k ? k.textContent : ""; }
  function markClass(row) {
    const kind = kindOf(row);
    if (kind === "assignment") return "pending";
    return MARKS[eventOf(row)] || (kind === "event" ? "event" : "other");
  }
  function usOf(row) { const t = $("time[data-clock]", row); return t ? Number(t.getAttribute("data-us")) : 0; }
  function groupRow(task) {
    const tr = document.createElement("tr");
    tr.className = "group";
    tr.setAttribute("data-group", task);
    tr.tabIndex = -1;
    tr.setAttribute("aria-selected", "false");
    const td = document.createElement("td");
    td.colSpan = 9;
    td.className = "c-group";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "disclose";
    button.setAttribute("aria-expanded", "false");
    const arrow = document.createElement("span");
    arrow.className = "disclose-arrow";
    arrow.setAttribute("aria-hidden", "true");
    const count = document.createElement("span");
    count.className = "group-count";
    button.append(arrow, count);
    const who = document.createElement("span");
    who.className = "group-task";
    const label = document.createElement("span");
    label.className = "task-label group-label";
    const link = document.createElement("a");
    link.className = "sid-link";
    link.setAttribute("href", "/tasks/" + task);
    link.setAttribute("title", task);
    link.textContent = shortSid(task);
    who.append(label, link);
    const latest = document.createElement("span");
    latest.className = "group-latest";
    const kind = document.createElement("span");
    const time = document.createElement("time");
    time.className = "clock";
    latest.append(kind, " ", time);
    const marks = document.createElement("ol");
    marks.className = "mini-timeline";
    const line = document.createElement("div");
    line.className = "group-line";
    line.append(button, who, latest, marks);
    td.appendChild(line);
    tr.appendChild(td);
    return tr;
  }
  // `members`: the group's rows, newest first.
  function fillGroup(g, task, members) {
    const newest = members[0];
    const n = members.length;
    g.setAttribute("data-href", newest.getAttribute("data-href"));
    g.setAttribute("data-open", newest.getAttribute("data-id"));
    g.classList.toggle("open", opened.has(task));
    const button = $("button.disclose", g);
    button.setAttribute("aria-expanded", opened.has(task) ? "true" : "false");
    button.setAttribute("title", (opened.has(task) ? "Hide" : "Show") + " the " + n + " callbacks of this task (Enter)");
    $(".disclose-arrow", g).textContent = opened.has(task) ? "▾" : "▸";
    $(".group-count", g).textContent = n + " callbacks";
    const named = members.map((m) => $(".c-task .task-label", m)).find((l) => l && l.textContent);
    const label = $(".group-label", g);
    label.textContent = named ? named.textContent : "";
    label.hidden = !named;
    const kind = $(".group-latest > span", g);
    const source = $(".c-kind .kind", newest);
    kind.className = source ? source.className : "kind";
    kind.textContent = eventOf(newest);
    kind.setAttribute("title", "Latest: " + eventOf(newest));
    const time = $(".group-latest time", g);
    const src = $("time[data-clock]", newest);
    if (src) { time.setAttribute("datetime", src.getAttribute("datetime") || ""); time.setAttribute("title", src.getAttribute("title") || ""); }
    time.textContent = clockText(usOf(newest));
    const ol = $("ol.mini-timeline", g);
    const oldest = members.slice().reverse();
    ol.setAttribute("aria-label", "Timeline of task " + shortSid(task) + ": " + n + " callbacks, oldest first");
    ol.replaceChildren(...oldest.map((m, i) => {
      const li = document.createElement("li");
      li.className = "mark m-" + markClass(m);
      li.setAttribute("data-request", m.getAttribute("data-id"));
      const gap = i > 0 ? ", " + gapText(usOf(m) - usOf(oldest[i - 1])).slice(1) + " after the one before" : "";
      const text = eventOf(m) + " at " + clockText(usOf(m)) + gap + " (#" + m.getAttribute("data-id") + ")";
      li.setAttribute("title", text);
      const name = document.createElement("span");
      name.className = "vh";
      name.textContent = text;
      li.appendChild(name);
      return li;
    }));
  }
  // Puts the list in order: pinned rows on top, then newest first; with grouping on, each
  // task's rows after its group row (hidden while the group is closed). Moves as few rows as
  // it can, and gives the focus back if a move took it.
  function arrange() {
    const body = $("#requests tbody");
    if (!body) return;
    const button = $("#group");
    if (button) button.setAttribute("aria-pressed", grouping ? "true" : "false");
    const active = document.activeElement;
    const selected = $("tr.selected", body);
    const list = pins();
    const all = $$("tr[data-id]", body).sort((a, b) => Number(b.getAttribute("data-id")) - Number(a.getAttribute("data-id")));
    all.forEach((r) => r.classList.toggle("pinned", list.includes(Number(r.getAttribute("data-id")))));
    const pinned = all.filter((r) => r.classList.contains("pinned"));
    const rest = all.filter((r) => !r.classList.contains("pinned"));
    const byTask = new Map();
    if (grouping) rest.forEach((r) => {
      const t = r.getAttribute("data-task");
      if (t) { if (!byTask.has(t)) byTask.set(t, []); byTask.get(t).push(r); }
    });
    const old = new Map($$("tr.group", body).map((g) => [g.getAttribute("data-group"), g]));
    const order = [];
    const plain = (r) => { r.hidden = false; r.classList.remove("member"); order.push(r); };
    pinned.forEach(plain);
    const done = new Set();
    rest.forEach((r) => {
      const t = r.getAttribute("data-task");
      const members = t && byTask.get(t);
      if (!members || members.length < 2) { plain(r); return; }
      if (done.has(t)) return;
      done.add(t);
      const g = old.get(t) || groupRow(t);
      old.delete(t);
      fillGroup(g, t, members);
      order.push(g);
      members.forEach((m) => { m.classList.add("member"); m.hidden = !opened.has(t); order.push(m); });
    });
    for (let i = 0; i < order.length; i++) {
      const want = order[i];
      if (body.children[i] === want) continue;
      if (body.moveBefore && want.isConnected) body.moveBefore(want, body.children[i] || null);
      else body.insertBefore(want, body.children[i] || null);
    }
    fitGroupSpans();
    // The selection follows its row: into its group row when that closes, back out of a
    // group that is gone.
    let next = null;
    if (selected && selected.hidden) next = $(`tr.group[data-group="${selected.getAttribute("data-task")}"]`, body);
    else if (selected && selected.classList.contains("group") && old.has(selected.getAttribute("data-group"))) {
      next = $(`tr[data-id="${selected.getAttribute("data-open")}"]`, body);
    }
    old.forEach((g) => g.remove());
    if (next) {
      $$("tr.selected", body).forEach((r) => { r.classList.remove("selected"); r.setAttribute("aria-selected", "false"); r.tabIndex = -1; });
      next.classList.add("selected");
      next.setAttribute("aria-selected", "true");
    }
    // Roving tabindex: exactly one visible row takes Tab.
    const visibleRows = $$("tr[data-href]:not([hidden])", body);
    const current = visibleRows.find((r) => r.classList.contains("selected")) || visibleRows[0];
    visibleRows.forEach((r) => { r.tabIndex = r === current ? 0 : -1; });
    $$("tr[data-href][hidden]", body).forEach((r) => { r.tabIndex = -1; });
    if (active && active !== document.activeElement && document.activeElement === document.body) {
      if (active.isConnected && !active.closest("[hidden]")) active.focus({ preventScroll: true });
      else if (next && (active === selected)) next.focus({ preventScroll: true });
    }
  }
  // A group row's one cell spans the columns on screen (the split view and narrow screens
  // hide some; a cell spanning hidden ones would leave the other rows short).
  function fitGroupSpans() {
    const heads = $$("#requests thead th");
    const span = heads.filter((th) => getComputedStyle(th).display !== "none").length || heads.length;
    $$("#requests tr.group > td").forEach((td) => { if (td.colSpan !== span) td.colSpan = span; });
  }
  let spanFrame = 0;
  window.addEventListener("resize", () => { cancelAnimationFrame(spanFrame); spanFrame = requestAnimationFrame(fitGroupSpans); });
  function toggleGroup(g) {
    const task = g.getAttribute("data-group");
    if (opened.has(task)) opened.delete(task); else opened.add(task);
    arrange();
  }
  function setGrouping(on, remember) {
    grouping = on;
    if (remember !== false) { try { localStorage.setItem(GROUP, on ? "on" : "off"); } catch (_) { /* this page only */ } }
    arrange();
    clocks();
    if (remember !== false && $("#group")) toast(on ? "Grouped by task" : "One row per request");
  }
  document.addEventListener("click", (e) => {
    if (e.target.closest("#group")) setGrouping(!grouping);
  });

  // The Diff tab: one button per pinned request to compare the shown one with.
  function fillPinnedChoices() {
    $$("#pinned-choices").forEach((box) => {
      const form = box.parentElement.querySelector("form.diff-form");
      const id = form ? Number(form.getAttribute("data-id")) : 0;
      $$("button", box).forEach((b) => b.remove());
      const list = pins().filter((n) => n !== id);
      list.forEach((n) => {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "compare-pinned";
        b.setAttribute("data-against", String(n));
        b.textContent = "#" + n;
        b.setAttribute("aria-label", "Compare with pinned request #" + n);
        box.appendChild(b);
      });
      box.hidden = list.length === 0;
    });
  }
  function compare(id, against) {
    if ($("#pane") && !$("#pane").hidden) showPane(id, false, against);
    else window.location.assign("/requests/" + id + "?against=" + encodeURIComponent(against) + "#d-diff");
  }
  document.addEventListener("click", (e) => {
    const b = e.target.closest("button.compare-pinned");
    if (!b) return;
    const form = b.closest(".diff-view").querySelector("form.diff-form");
    compare(form.getAttribute("data-id"), b.getAttribute("data-against"));
  });
  document.addEventListener("submit", (e) => {
    const form = e.target.closest("form.diff-form");
    if (!form || !$("#pane") || $("#pane").hidden) return;
    e.preventDefault();
    compare(form.getAttribute("data-id"), new FormData(form).get("against"));
  });
  // The detail page opened with #d-diff (or ?against=) shows its Diff tab.
  if (document.body.getAttribute("data-page") === "detail" && (location.hash === "#d-diff" || new URLSearchParams(location.search).get("against"))) {
    const t = $("#t-diff");
    if (t) t.click();
  }

  // Absolute times to the millisecond (local time; the exact UTC time is the title), with the
  // gap to the previous (older) row.
  function clockText(us) {
    const d = new Date(us / 1000);
    const p = (n, w) => String(n).padStart(w || 2, "0");
    return p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds()) + "." + p(d.getMilliseconds(), 3);
  }
  function gapText(us) {
    if (us < 1e6) return "+" + Math.round(us / 1000) + " ms";
    if (us < 6e7) return "+" + (us / 1e6).toFixed(1) + " s";
    if (us < 36e8) return "+" + Math.floor(us / 6e7) + " m " + String(Math.floor(us / 1e6) % 60).padStart(2, "0") + " s";
    return "+" + (us / 36e8).toFixed(1) + " h";
  }
  function clocks() {
    // Gaps in time order, whatever the rows' order on screen (pins on top, tasks grouped).
    const times = $$("#requests tbody tr:not(.pinned) time[data-clock]")
      .sort((a, b) => Number(b.getAttribute("data-us")) - Number(a.getAttribute("data-us")));
    times.concat($$("#requests tbody tr.pinned time[data-clock]")).forEach((t) => {
      const us = Number(t.getAttribute("data-us"));
      t.textContent = clockText(us);
      t.classList.add("clock");
    });
    times.forEach((t, i) => {
      const cell = t.parentElement;
      let gap = $(".gap", cell);
      const older = times[i + 1];
      if (!older) { if (gap) gap.remove(); return; }
      if (!gap) { gap = document.createElement("span"); gap.className = "gap"; cell.appendChild(gap); }
      gap.textContent = gapText(Number(t.getAttribute("data-us")) - Number(older.getAttribute("data-us")));
      gap.setAttribute("title", "after the previous request");
    });
  }

  // ---- relative times ---------------------------------------------------------------------
  function relative(us) {
    const secs = Math.max(0, Math.floor((Date.now() * 1000 - us) / 1e6));
    if (secs < 60) return secs + "s ago";
    if (secs < 3600) return Math.floor(secs / 60) + "m ago";
    if (secs < 86400) return Math.floor(secs / 3600) + "h ago";
    return Math.floor(secs / 86400) + "d ago";
  }
  setInterval(() => {
    $$("time[data-us]:not([data-clock])").forEach((t) => { t.textContent = relative(Number(t.getAttribute("data-us"))); });
  }, 10000);

  // ---- live rows --------------------------------------------------------------------------
  // Same rule as the server's view::visible: control and bidi characters shown as escapes.
  function visible(s) {
    return String(s).replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g,
      (c) => "\\u{" + c.charCodeAt(0).toString(16) + "}");
  }
  function shortSid(sid) { return sid.length === 34 ? sid.slice(0, 6) + "…" + sid.slice(30) : sid; }
  function sidHref(sid) {
    const prefix = sid.slice(0, 2);
    if (prefix === "WT") return "/tasks/" + sid;
    if (prefix === "WR") return "/?reservation_sid=" + sid;
    if (prefix === "WK") return "/?worker_sid=" + sid;
    return "/?q=" + encodeURIComponent(sid);
  }
  const SVG = "http://www.w3.org/2000/svg";
  function copyIcon() {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "icon");
    svg.setAttribute("viewBox", "0 0 16 16");
    svg.setAttribute("aria-hidden", "true");
    const rect = document.createElementNS(SVG, "rect");
    [["x", "5.5"], ["y", "5.5"], ["width", "8"], ["height", "8"], ["rx", "1.5"]].forEach(([k, v]) => rect.setAttribute(k, v));
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", "M10.5 3.5v-0.5a1.5 1.5 0 0 0-1.5-1.5h-5a1.5 1.5 0 0 0-1.5 1.5v5a1.5 1.5 0 0 0 1.5 1.5h0.5");
    svg.append(rect, path);
    return svg;
  }
  function sidCell(cell, sid) {
    if (!sid) return;
    const wrap = document.createElement("span");
    wrap.className = "sid";
    const link = document.createElement("a");
    link.setAttribute("href", sidHref(sid));
    link.setAttribute("title", sid);
    link.textContent = shortSid(sid);
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.setAttribute("data-copy", sid);
    button.setAttribute("aria-label", "Copy " + sid);
    button.setAttribute("title", "Copy " + sid);
    button.appendChild(copyIcon());
    wrap.append(link, button);
    cell.appendChild(wrap);
  }
  function statusClass(s) { return s >= 200 && s < 300 ? "ok" : (s >= 400 && s < 500 ? "warn" : "err"); }

  function matches(table, r) {
    if (table.getAttribute("data-filtered") !== "yes") return true;
    if (table.getAttribute("data-filter-q")) return null; // cannot tell client-side
    const checks = {
      kind: r.kind, event_type: r.event_type, path: r.path, status: String(r.status),
      task_sid: r.task_sid, reservation_sid: r.reservation_sid, worker_sid: r.worker_sid,
    };
    return Object.keys(checks).every((name) => {
      const want = table.getAttribute("data-filter-" + name);
      return !want || want === checks[name];
    });
  }

  function addRow(table, r) {
    if (paused) { held.set(r.id, r); showHeld(); return; }
    const verdict = matches(table, r);
    if (verdict === false) return;
    if (verdict === null) { $("#new-notice").hidden = false; return; }
    const row = $("#row-template").content.firstElementChild.cloneNode(true);
    row.setAttribute("data-href", "/requests/" + r.id);
    row.setAttribute("data-id", String(r.id));
    row.classList.add("kind-" + r.kind);
    if (r.task_sid) row.setAttribute("data-task", r.task_sid);
    const time = $("time", row);
    time.setAttribute("datetime", r.received_at);
    time.setAttribute("data-us", String(r.received_at_us));
    time.setAttribute("title", r.received_at);
    time.textContent = relative(r.received_at_us);
    const pin = $("button.pin", row);
    pin.setAttribute("data-pin", String(r.id));
    pin.setAttribute("aria-label", "Pin #" + r.id);
    $("a.req", row).setAttribute("href", "/requests/" + r.id);
    $(".method", row).textContent = visible(r.method);
    // One line per row however long the path is (the server cuts its cells the same way).
    const full = visible(r.path + (r.query ? "?" + r.query : ""));
    $(".path", row).textContent = full.length > 160 ? full.slice(0, 160) + "…" : full;
    $("a.req", row).setAttribute("title", visible(r.method) + " " + (full.length > 1000 ? full.slice(0, 1000) + "…" : full));
    const names = r.names || {};
    const cut = (el, text) => { el.textContent = text; el.setAttribute("title", text); };
    if (names.description) cut($(".desc", row), names.description);
    if (names.queue_name) cut($(".queue-name", row), names.queue_name);
    const kind = $(".kind", row);
    kind.classList.add(r.kind);
    cut(kind, visible(r.event_type || r.kind));
    const status = $(".status", row);
    status.classList.add(statusClass(r.status));
    status.textContent = String(r.status);
    const named = (cell, cls, text) => {
      if (!text) return;
      const span = document.createElement("span");
      span.className = cls + " cut";
      cut(span, text);
      cell.append(span);
    };
    named($(".t-task", row), "task-label", names.task_label);
    sidCell($(".t-task", row), r.task_sid);
    sidCell($(".t-reservation", row), r.reservation_sid);
    named($(".t-worker", row), "worker-name", names.worker_name);
    sidCell($(".t-worker", row), r.worker_sid);
    const sig = $(".sig", row);
    sig.classList.add(r.signature);
    sig.textContent = r.signature;
    if (r.replay_of) {
      const badge = document.createElement("span");
      badge.className = "badge replay";
      badge.setAttribute("title", "Replay of #" + r.replay_of + ": it changes no reservation or task state");
      badge.textContent = "replay of #" + r.replay_of;
      $("a.req", row).after(badge);
    }
    const decide = $(".c-decide", row);
    if (decide && window.taskhookDecide) window.taskhookDecide(decide, r);
    const body = $("tbody", table);
    if ($(`tr[data-id="${r.id}"]`, body)) return; // already shown
    body.insertBefore(row, body.firstChild);
    tick(); // start its countdown now, not at the next second
    // At most 500 rows: the oldest that are not pinned go.
    const kept = $$("tr[data-id]:not(.pinned)", body).sort((a, b) => Number(a.getAttribute("data-id")) - Number(b.getAttribute("data-id")));
    kept.slice(0, Math.max(0, $$("tr[data-id]", body).length - 500)).forEach((old) => old.remove());
    markPins();
    clocks();
    const empty = $("#empty");
    if (empty) empty.hidden = true;
  }

  // Every page listens: reservation state, the tray and the workers follow what arrives. Only
  // the newest page of the request list also prepends rows.
  function startLive() {
    const table = $("#requests");
    const status = $("#live-status");
    if (!window.EventSource) return;
    const rowsLive = table && table.getAttribute("data-live") === "on";
    const source = new EventSource("/live");
    source.addEventListener("open", () => {
      status.textContent = "live"; status.className = "live-status on";
      refreshTray();
      if (rowsLive) catchUp(table);
    });
    source.addEventListener("error", () => { status.textContent = "reconnecting"; status.className = "live-status off"; });
    source.addEventListener("request", (e) => {
      let r;
      try { r = JSON.parse(e.data); } catch (_) { return; /* a malformed event is skipped */ }
      if (rowsLive) addRow(table, r);
      followState(r);
    });
    source.addEventListener("reload", () => { const n = $("#new-notice"); if (n) n.hidden = false; refreshTray(); });
  }

  // Rows stored between the page's render and the stream's opening (or while reconnecting)
  // would otherwise never show: fetch what is newer than the newest row shown.
  async function catchUp(table) {
    if (!window.fetch) return;
    const newest = Math.max(0, ...$$("tbody tr[data-id]", table).map((r) => Number(r.getAttribute("data-id"))));
    try {
      const res = await fetch("/api/requests?limit=100", { credentials: "same-origin", headers: { "Accept": "application/json" } });
      if (!res.ok) return;
      const list = (await res.json()).requests || [];
      list.filter((r) => r.id > newest).reverse().forEach((r) => { addRow(table, r); followState(r); });
    } catch (_) { /* the stream still brings what comes next */ }
  }

  // What a recorded callback says about reservations and workers. Replays re-send old
  // callbacks, so they never move anything.
  const RESERVATION_EVENTS = {
    "reservation.accepted": "accepted", "reservation.rejected": "rejected", "reservation.timeout": "timeout",
    "reservation.canceled": "canceled", "reservation.rescinded": "rescinded", "reservation.completed": "completed",
    "reservation.wrapup": "wrapping", "reservation.failed": "failed",
  };
  let workersTimer = null;
  function followState(r) {
    if (r.replay_of) return;
    const status = RESERVATION_EVENTS[r.event_type || ""];
    if (status && r.reservation_sid) {
      $$(`.decide[data-reservation="${r.reservation_sid}"]`).forEach((box) => setStatus(box, status));
    }
    if (r.kind === "assignment" || status || /^(task|worker|reservation)\./.test(r.event_type || "")) refreshTray();
    if (document.body.getAttribute("data-page") === "workers" && /^(worker|reservation)\./.test(r.event_type || "")) {
      clearTimeout(workersTimer);
      workersTimer = setTimeout(refreshWorkers, 150);
    }
  }

  // ---- Accept / Reject / Refresh / Complete / Cancel ------------------------------------------
  // Forms work without JavaScript (POST + redirect); with it they call the JSON API and show
  // TaskRouter's answer in place.
  const meta = (name) => { const m = $(`meta[name="${name}"]`); return m ? m.getAttribute("content") : ""; };

  function describe(json, action) {
    if (json.reservation_status) return (json.worker_name ? json.worker_name + " · " : "") + json.reservation_status;
    if (action === "create task" && json.sid && json.assignment_status) return "task " + json.sid + " · " + json.assignment_status;
    if (json.assignment_status) return "task " + json.assignment_status;
    if (json.sid && /^WK/.test(json.sid)) return json.friendly_name + " · " + json.activity_name;
    return "done";
  }
  function setStatus(box, status) {
    if (!status) return;
    box.setAttribute("data-status", status);
    const row = box.closest("tr, dd");
    // Rows without a status column get a badge beside the buttons.
    if (box.classList.contains("decide") && !$(".res-status", row || box) && box.closest("#requests, dd")) {
      const badge = document.createElement("span");
      badge.className = "res-status";
      box.insertBefore(badge, box.firstChild);
    }
    $$(".res-status", row || box).forEach((badge) => { badge.textContent = status; badge.className = "res-status " + status; });
    if (status !== "pending") {
      $$("form.action-form", box).forEach((f) => {
        const action = f.querySelector("button").getAttribute("data-action");
        if (action === "accept" || action === "reject") f.remove();
      });
      const countdown = $(".countdown", box);
      if (countdown) countdown.remove();
    }
  }
  document.addEventListener("submit", async (e) => {
    const form = e.target.closest("form.action-form");
    if (!form || !window.fetch) return;
    e.preventDefault();
    const box = form.closest(".decide, .task-actions") || form;
    const out = $("output.result", box);
    const payload = {};
    new FormData(form).forEach((value, key) => { if (key !== "csrf" && key !== "back" && value) payload[key] = value; });
    const buttons = $$("button", box);
    buttons.forEach((b) => { b.disabled = true; });
    const action = form.querySelector("button").getAttribute("data-action") || "action";
    out.className = "result busy";
    out.textContent = action + "…";
    let json = {};
    let ok = false;
    try {
      const res = await fetch(form.getAttribute("data-api"), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(payload),
        credentials: "same-origin",
      });
      ok = res.ok;
      json = await res.json().catch(() => ({ error: { message: "HTTP " + res.status } }));
    } catch (err) {
      json = { error: { message: "taskhook did not answer: " + err } };
    }
    buttons.forEach((b) => { b.disabled = meta("has-credentials") !== "yes"; });
    // A decided reservation leaves the tray's list of pending ones; its item stays, showing
    // the answer, while the focus is on it (and a few seconds more), so the focus has a place.
    const item = box.closest(".tray-item");
    if (item && json.reservation_status !== "pending") keepTrayItem(item);
    out.textContent = "";
    if (ok) {
      out.className = json.taskhook_warning ? "result warn" : "result ok";
      out.textContent = action + ": " + describe(json, action);
      if (json.taskhook_warning) out.append(" — " + json.taskhook_warning);
      if (action === "create task" && json.sid) {
        const link = document.createElement("a");
        link.setAttribute("href", "/tasks/" + json.sid);
        link.textContent = "open task";
        out.append(" ", link);
      }
      setStatus(box, json.reservation_status);
      toast(action + ": " + describe(json, action));
      if (json.sid && /^WK/.test(json.sid)) refreshWorkers();
      refreshTray();
    } else {
      const error = json.error || {};
      out.className = "result err";
      out.textContent = action + ": " + (json.summary || error.message || "failed");
      if (error.more_info && /^https:\/\//.test(error.more_info)) {
        const link = document.createElement("a");
        link.setAttribute("href", error.more_info);
        link.setAttribute("rel", "noreferrer");
        link.setAttribute("target", "_blank");
        link.textContent = "more info";
        out.append(" ", link);
      }
      setStatus(box, json.reservation_status);
    }
    if (box.classList.contains("task-actions")) fitTaskActions(box, (json.assignment_status) || taskStatusFrom(json));
    // Focus lands on the answer, so a keyboard or screen-reader user hears what happened (in
    // the tray too: its item stays while the answer has the focus).
    if (out.isConnected) { out.tabIndex = -1; out.focus(); }
  });
  function taskStatusFrom(json) {
    const m = /the task is (\w+)/.exec(json.summary || (json.error && json.error.message) || "");
    return m ? m[1] : null;
  }
  // Complete for an assigned or wrapping task, Wrap up for an assigned one, Cancel for a
  // pending or reserved one (the server renders the same choice).
  function fitTaskActions(box, status) {
    if (!status) return;
    box.setAttribute("data-task-status", status);
    $$("form.task-form", box).forEach((f) => {
      const action = f.getAttribute("data-action-name");
      const fits = action === "complete" ? (status === "assigned" || status === "wrapping")
        : action === "cancel" ? (status === "pending" || status === "reserved")
        : action === "wrapup" ? status === "assigned" : true;
      f.hidden = !fits;
    });
  }

  // Countdown to the reservation timeout.
  function tick() {
    $$(".countdown[data-deadline-us]").forEach((el) => {
      const left = Math.floor((Number(el.getAttribute("data-deadline-us")) - Date.now() * 1000) / 1e6);
      if (left > 0) {
        el.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0") + " left";
        el.classList.toggle("urgent", left <= 20);
      } else {
        el.textContent = "timer elapsed";
        el.classList.add("elapsed");
        // TaskRouter has timed it out by now: Accept / Reject can only fail.
        const box = el.closest(".decide, .tray-item");
        if (box) $$("button[data-action='accept'], button[data-action='reject']", box).forEach((b) => {
          b.disabled = true;
          b.title = "The reservation timer ran out";
        });
      }
    });
  }
  tick();
  setInterval(tick, 1000);

  // Decision controls for assignment rows that arrive live (same markup as the server's).
  function actionForm(reservation, task, workspace, action, label, back) {
    const form = document.createElement("form");
    form.method = "post";
    form.className = "action-form";
    form.setAttribute("action", "/reservations/" + reservation + "/" + action);
    form.setAttribute("data-api", "/api/reservations/" + reservation + "/" + action);
    [["csrf", meta("csrf-token")], ["back", back || "/"], ["task_sid", task], ["workspace_sid", workspace]].forEach(([name, value]) => {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = value || "";
      form.appendChild(input);
    });
    const button = document.createElement("button");
    button.type = "submit";
    button.className = "act " + action;
    button.setAttribute("data-action", action);
    button.textContent = label;
    if (meta("has-credentials") !== "yes") {
      button.disabled = true;
      button.title = "Set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN and restart taskhook";
    }
    form.appendChild(button);
    return form;
  }
  window.taskhookDecide = function (cell, r) {
    if (r.kind !== "assignment" || !r.reservation_sid || !r.task_sid) return;
    const box = document.createElement("div");
    box.className = "decide";
    box.setAttribute("data-reservation", r.reservation_sid);
    box.setAttribute("data-status", "pending");
    const ws = r.workspace_sid || "";
    box.append(
      actionForm(r.reservation_sid, r.task_sid, ws, "accept", "Accept"),
      actionForm(r.reservation_sid, r.task_sid, ws, "reject", "Reject"));
    const countdown = document.createElement("span");
    countdown.className = "countdown";
    countdown.setAttribute("data-deadline-us", String(r.received_at_us + Number(meta("reservation-timeout-us") || 0)));
    box.append(countdown, actionForm(r.reservation_sid, r.task_sid, ws, "refresh", "↻"));
    const out = document.createElement("output");
    out.className = "result";
    box.appendChild(out);
    cell.appendChild(box);
  };

  // ---- "Needs you": pending reservations pinned under the top bar ----------------------------
  let trayBusy = false, trayAgain = false, traySelected = null;
  async function refreshTray() {
    const tray = $("#tray");
    if (!tray || !window.fetch) return;
    if (trayBusy) { trayAgain = true; return; }
    trayBusy = true;
    try {
      const res = await fetch("/api/tray", { credentials: "same-origin", headers: { "Accept": "application/json" } });
      if (res.ok) renderTray(await res.json());
    } catch (_) { /* the next event retries */ }
    trayBusy = false;
    if (trayAgain) { trayAgain = false; refreshTray(); }
  }
  function renderTray(data) {
    const tray = $("#tray");
    const list = $("#tray-items");
    const items = data.pending || [];
    const name = $("#responder-name");
    if (name && data.responder !== undefined) name.textContent = typeof data.responder === "string" ? data.responder : (data.responder.instruction || "instruction");
    if (data.timeout && data.timeout.us) {
      const m = $('meta[name="reservation-timeout-us"]');
      if (m) m.setAttribute("content", String(data.timeout.us));
    }
    // Items just decided stay (see keepTrayItem); the others are redrawn.
    const kept = $$(".tray-item.done", list);
    $$(".tray-item:not(.done)", list).forEach((li) => li.remove());
    items.forEach((item) => {
      if (kept.some((li) => li.getAttribute("data-reservation") === item.reservation_sid)) return;
      const li = document.createElement("li");
      li.className = "tray-item";
      li.setAttribute("data-reservation", item.reservation_sid);
      li.setAttribute("tabindex", "0");
      const who = document.createElement("strong");
      who.className = "tray-worker";
      who.textContent = visible(item.worker_name || (item.worker_sid ? shortSid(item.worker_sid) : "a worker"));
      const what = document.createElement("a");
      what.className = "tray-task";
      what.setAttribute("href", item.task_sid ? "/tasks/" + item.task_sid : "/requests/" + item.request_id);
      what.textContent = visible(item.task_label || (item.task_sid ? shortSid(item.task_sid) : "task"));
      const queue = document.createElement("span");
      queue.className = "tray-queue muted";
      queue.textContent = item.queue_name ? "in " + visible(item.queue_name) : "";
      li.append(who, " · ", what, " ", queue, " ");
      const decide = document.createElement("div");
      decide.className = "decide";
      decide.setAttribute("data-reservation", item.reservation_sid);
      decide.setAttribute("data-status", "pending");
      decide.append(
        actionForm(item.reservation_sid, item.task_sid, item.workspace_sid, "accept", "Accept", location.pathname),
        actionForm(item.reservation_sid, item.task_sid, item.workspace_sid, "reject", "Reject", location.pathname));
      if (item.deadline_us) {
        const countdown = document.createElement("span");
        countdown.className = "countdown";
        countdown.setAttribute("data-deadline-us", String(item.deadline_us));
        countdown.setAttribute("title", "Time left: " + ((data.timeout && data.timeout.source) || ""));
        decide.appendChild(countdown);
      }
      const out = document.createElement("output");
      out.className = "result";
      decide.appendChild(out);
      li.appendChild(decide);
      if (item.warning) {
        const warn = document.createElement("span");
        warn.className = "warn-text tray-warning";
        warn.textContent = item.warning;
        li.appendChild(warn);
      }
      li.addEventListener("click", () => selectTray(item.reservation_sid));
      li.addEventListener("focus", () => selectTray(item.reservation_sid));
      list.appendChild(li);
    });
    tray.hidden = list.children.length === 0;
    if (!items.some((i) => i.reservation_sid === traySelected)) traySelected = items.length ? items[0].reservation_sid : null;
    selectTray(traySelected);
    tick();
  }
  // An item whose Accept or Reject was just answered stays 3 s, showing the answer (which
  // has the focus), then goes like the redraw would have dropped it. If the focus is still on
  // it, the focus moves to that reservation's status elsewhere on the page (the list's row),
  // else to the next pending item or the page's heading — never to nowhere.
  function keepTrayItem(li) {
    li.classList.add("done");
    setTimeout(() => {
      if (!li.isConnected) return;
      const had = li.contains(document.activeElement);
      li.remove();
      const tray = $("#tray");
      if (tray && !$(".tray-item", tray)) tray.hidden = true;
      if (had) {
        const sid = li.getAttribute("data-reservation");
        const there = $$(".decide").find((d) => d.getAttribute("data-reservation") === sid && !d.closest("#tray"));
        const target = (there && ($(".res-status", there) || $("output.result", there))) || $("#tray:not([hidden]) .tray-item") || $("main h1");
        if (target) {
          if (!target.hasAttribute("tabindex")) target.tabIndex = -1;
          target.focus({ preventScroll: true });
        }
      }
      refreshTray();
    }, 3000);
  }
  function selectTray(sid) {
    traySelected = sid;
    $$(".tray-item").forEach((li) => {
      const on = li.getAttribute("data-reservation") === sid;
      li.classList.toggle("selected", on);
      li.setAttribute("aria-current", on ? "true" : "false");
    });
  }
  // a / r accept or reject the selected reservation in the tray.
  document.addEventListener("keydown", (e) => {
    if (e.target.closest("input, select, textarea") || e.metaKey || e.ctrlKey || e.altKey) return;
    if (e.key !== "a" && e.key !== "r") return;
    const li = traySelected && $(`.tray-item[data-reservation="${traySelected}"]`);
    if (!li) return;
    const button = $(`button[data-action="${e.key === "a" ? "accept" : "reject"}"]`, li);
    if (button && !button.disabled) { e.preventDefault(); button.click(); }
  });

  // ---- workers, kept current --------------------------------------------------------------
  async function refreshWorkers() {
    const table = $("#workers");
    if (!table || !window.fetch) return;
    let data;
    try {
      const res = await fetch("/api/workers", { credentials: "same-origin", headers: { "Accept": "application/json" } });
      if (!res.ok) return;
      data = await res.json();
    } catch (_) { return; }
    (data.workers || []).forEach((w) => {
      const row = $(`tr[data-worker="${w.worker_sid}"]`, table);
      if (!row) return;
      $(".activity", row).textContent = visible(w.activity_name || "?");
      const avail = $(".available", row);
      avail.replaceChildren();
      const badge = document.createElement("span");
      badge.className = w.available ? "badge ok-badge" : "badge";
      badge.textContent = w.available ? "available" : "not available";
      avail.appendChild(badge);
      const select = $("select[name=activity]", row);
      if (select && w.activity_sid && document.activeElement !== select) select.value = w.activity_sid;
      if (!w.timed_out) $$(`.timed-out[data-worker="${w.worker_sid}"]`).forEach((b) => b.remove());
    });
  }

  // ---- the responder switch -----------------------------------------------------------------
  document.addEventListener("submit", async (e) => {
    const form = e.target.closest("form.responder-form");
    if (!form || !window.fetch) return;
    e.preventDefault();
    const out = $("output.result", form);
    const data = new FormData(form);
    const mode = data.get("mode") || "hold";
    let assignment = mode;
    if (mode === "instruction") {
      try { assignment = JSON.parse(data.get("instruction") || ""); } catch (err) {
        out.className = "result err";
        out.textContent = "the instruction is not JSON: " + err.message;
        return;
      }
    }
    out.className = "result busy";
    out.textContent = "switching…";
    let json = {}, ok = false;
    try {
      const res = await fetch(form.getAttribute("data-api"), {
        method: "PUT", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ assignment }), credentials: "same-origin",
      });
      ok = res.ok;
      json = await res.json().catch(() => ({ error: { message: "HTTP " + res.status } }));
    } catch (err) { json = { error: { message: "taskhook did not answer: " + err } }; }
    if (ok) {
      const now = typeof json.assignment === "string" ? json.assignment : JSON.stringify(json.assignment);
      out.className = json.warning ? "result warn" : "result ok";
      out.textContent = "assignment callbacks now get: " + now;
      if (json.warning) out.append(" — " + json.warning);
      const name = $("#responder-name");
      if (name) name.textContent = typeof json.assignment === "string" ? json.assignment : json.assignment.instruction;
    } else {
      out.className = "result err";
      out.textContent = "switch: " + ((json.error && json.error.message) || "failed");
    }
  });

  $$(".task-actions[data-task-status]").forEach((box) => fitTaskActions(box, box.getAttribute("data-task-status")));
  markPins();
  fillPinnedChoices();
  fetchPinnedRows();
  refreshTray();
  startLive();
})();
