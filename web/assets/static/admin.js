// The admin console: every table comes from the admin API, every change
// goes through it with the session's CSRF token. Values are put in with
// textContent only, so nothing a user chose is ever read as markup.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const api = "/api/admin/v1";

async function call(method, path, body) {
  const init = { method, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(api + path, init);
  const data = res.status === 204 ? null : await res.json();
  if (!res.ok) {
    throw new Error((data && data.error) || res.statusText);
  }
  return data;
}

function showError(err) {
  const p = document.getElementById("admin-error");
  p.textContent = err ? String(err.message || err) : "";
  p.hidden = !err;
}

function fill(tableId, rows, cells) {
  const tbody = document.querySelector("#" + tableId + " tbody");
  tbody.replaceChildren();
  for (const row of rows) {
    const tr = document.createElement("tr");
    for (const cell of cells(row, tr)) {
      const td = document.createElement("td");
      if (cell instanceof Node) {
        td.append(cell);
      } else {
        td.textContent = cell === undefined || cell === null ? "" : String(cell);
      }
      tr.append(td);
    }
    tbody.append(tr);
  }
}

function button(label, action) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", async () => {
    try {
      showError(null);
      await action();
      await refresh();
    } catch (err) {
      showError(err);
    }
  });
  return b;
}

async function loadSessions() {
  const sessions = await call("GET", "/sessions");
  fill("sessions", sessions, (s, tr) => {
    tr.dataset.session = s.id;
    tr.dataset.account = s.account;
    const kick = button("Kick", () => call("DELETE", "/sessions/" + encodeURIComponent(s.id)));
    kick.className = "kick";
    return [s.account, s.email, s.protocol, s.status, s.addr, s.node, kick];
  });
}

async function loadAccounts() {
  const q = document.getElementById("account-query").value;
  const accounts = await call("GET", "/accounts?q=" + encodeURIComponent(q));
  fill("accounts", accounts, (a, tr) => {
    tr.dataset.account = a.number;
    const actions = document.createElement("span");
    actions.append(
      a.disabled
        ? button("Enable", () => call("POST", "/accounts/" + a.number + "/enable"))
        : button("Disable", () => call("POST", "/accounts/" + a.number + "/disable")),
      button("Reset password", async () => {
        const r = await call("POST", "/accounts/" + a.number + "/password", {});
        window.alert("New password for " + a.email + ": " + r.password);
      }),
      button("Delete", async () => {
        if (window.confirm("Delete account " + a.number + " (" + a.email + ")?")) {
          await call("DELETE", "/accounts/" + a.number);
        }
      }),
    );
    const state = [a.admin ? "admin" : "", a.disabled ? "disabled" : "", a.online.length ? "online: " + a.online.join(", ") : ""];
    return [a.number, a.email, a.nick, a.display_name, a.mailbox, state.filter(Boolean).join("; "), actions];
  });
}

async function loadTransfers() {
  const ts = await call("GET", "/transfers");
  fill("transfers", ts, (t) => [t.id, t.sender, t.recipient, t.file_name, t.file_size, t.ack, t.status + " " + t.progress, t.expires_at]);
}

async function loadMailboxes() {
  const ms = await call("GET", "/mailboxes");
  fill("mailboxes", ms, (m) => [m.number, m.email, m.mailbox]);
}

async function loadHealth() {
  const h = await call("GET", "/health");
  const rows = Object.entries(h.listeners || {}).map(([name, st]) => ({ name, ...st }));
  rows.push({ name: "bus", state: h.bus });
  fill("health", rows, (l) => [l.name, l.state, l.cause]);
}

async function loadMetrics() {
  const ms = await call("GET", "/metrics");
  const rows = [];
  for (const m of ms) {
    for (const s of m.series) {
      rows.push({ name: m.name, labels: Object.entries(s.labels).map(([k, v]) => k + "=" + v).join(" "), value: s.value });
    }
  }
  fill("metrics", rows, (r) => [r.name, r.labels, r.value]);
}

async function refresh() {
  try {
    await Promise.all([loadSessions(), loadAccounts(), loadTransfers(), loadMailboxes(), loadHealth(), loadMetrics()]);
    document.body.dataset.loaded = "true";
  } catch (err) {
    showError(err);
  }
}

document.getElementById("account-search").addEventListener("submit", (e) => {
  e.preventDefault();
  loadAccounts().catch(showError);
});

document.getElementById("invite-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    const uses = Number(new FormData(e.target).get("uses"));
    const inv = await call("POST", "/invites", { uses });
    document.getElementById("invite-code").textContent = "Code: " + inv.code + " (" + inv.uses + " uses, until " + inv.expires_at + ")";
  } catch (err) {
    showError(err);
  }
});

refresh();
