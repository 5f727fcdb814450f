// Crosstalk's chat in the browser: the web chat protocol (PROTOCOL.md)
// over one WebSocket. Every string from the server (names, messages,
// file names) is shown through textContent, never as markup.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  ws: null, me: null, nextId: 1, pending: new Map(),
  contacts: new Map(), // number -> contact entry
  conversations: new Map(), // number -> [{mine, text, sent, offline, file, failed}]
  current: 0, typingTimer: 0, typingSent: false, typingShown: 0, pingTimer: 0,
  bye: "", // the reason the server gave for ending the session
};

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function nameOf(a) { return a.name || a.email || a.nick || String(a.number); }

function request(msg) {
  const id = String(state.nextId++);
  msg.id = id;
  return new Promise((resolve, reject) => {
    state.pending.set(id, { resolve, reject });
    state.ws.send(JSON.stringify(msg));
  });
}

function connect(login) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(scheme + "//" + location.host + location.pathname.replace(/[^/]*$/, "") + "ws");
  state.ws = ws;
  ws.onopen = () => {
    request(Object.assign({ type: "login" }, login)).then((w) => {
      state.me = w.account;
      $("me").textContent = nameOf(w.account) + " (" + w.account.number + ")";
      $("login").hidden = true;
      $("chat").hidden = false;
      state.pingTimer = setInterval(() => request({ type: "ping" }).catch(() => {}), 60000);
    }, (e) => { $("login-error").textContent = e.text || e.code; });
  };
  ws.onmessage = (ev) => {
    let m;
    try { m = JSON.parse(ev.data); } catch (_) { return; }
    handle(m);
  };
  ws.onclose = () => {
    clearInterval(state.pingTimer);
    for (const p of state.pending.values()) p.reject({ code: "closed", text: "connection closed" });
    state.pending.clear();
    if (!$("chat").hidden) {
      notice((state.bye ? "Signed out: " + state.bye + ". " : "Disconnected. ") + "Reload the page to sign in again.");
    }
  };
}

function handle(m) {
  const waiting = m.id && state.pending.get(m.id);
  if (waiting && ["welcome", "ack", "error", "file_upload", "file_status"].includes(m.type)) {
    state.pending.delete(m.id);
    (m.type === "error" ? waiting.reject : waiting.resolve)(m);
    return;
  }
  switch (m.type) {
    case "contacts":
      state.contacts.clear();
      for (const c of m.contacts) state.contacts.set(c.number, c);
      renderContacts();
      break;
    case "contact":
      state.contacts.set(m.contact.number, m.contact);
      renderContacts();
      break;
    case "presence": {
      const c = state.contacts.get(m.from.number);
      if (c) { c.status = m.status; c.text = m.text || ""; Object.assign(c, m.from); renderContacts(); }
      break;
    }
    case "message":
      if (m.from.number === state.current) showTyping("");
      addLine(m.from.number, { mine: false, text: m.text, sent: m.sent, offline: m.offline }, m.from);
      break;
    case "typing":
      if (m.from.number === state.current) showTyping(m.typing ? nameOf(m.from) + " is typing…" : "");
      break;
    case "request":
      addRequest(m.from);
      break;
    case "file":
      addLine(m.from.number, { mine: false, file: m }, m.from);
      break;
    case "file_status":
      notice("File " + m.status + ".");
      break;
    case "error":
      notice("Error: " + (m.text || m.code));
      break;
    case "bye":
      state.bye = m.reason || "the server ended the session";
      notice("Signed out: " + state.bye + ".");
      break;
  }
}

function notice(text) { $("notice").textContent = text; }

// showTyping shows who types; some protocols never say they stopped, so
// it fades by itself unless said again.
function showTyping(text) {
  $("typing").textContent = text;
  clearTimeout(state.typingShown);
  if (text) state.typingShown = setTimeout(() => { $("typing").textContent = ""; }, 8000);
}

function ensureContact(a) {
  if (!state.contacts.has(a.number)) {
    state.contacts.set(a.number, Object.assign({ status: "offline", lists: [] }, a));
    renderContacts();
  }
}

function renderContacts() {
  const list = $("contacts");
  list.replaceChildren();
  const sorted = [...state.contacts.values()].filter((c) => c.lists.includes("FL") || state.conversations.has(c.number));
  sorted.sort((a, b) => (a.status === "offline") - (b.status === "offline") || nameOf(a).localeCompare(nameOf(b)));
  for (const c of sorted) {
    const li = el("li");
    li.dataset.number = c.number;
    if (c.number === state.current) li.classList.add("active");
    if (c.unread) li.classList.add("unread");
    li.append(el("span", "dot " + c.status), el("span", "name", nameOf(c)));
    if (c.lists.includes("BL")) li.append(el("span", "text", "blocked"));
    else li.append(el("span", "text", c.status + (c.text ? " — " + c.text : "")));
    li.addEventListener("click", () => openConversation(c.number));
    list.append(li);
  }
  const cur = state.contacts.get(state.current);
  if (cur) $("block").textContent = cur.lists.includes("BL") ? "Unblock" : "Block";
}

function addRequest(from) {
  const li = el("li");
  li.dataset.number = from.number;
  li.append(el("span", "", nameOf(from) + " wants to add you. "));
  const accept = el("button", "", "Accept");
  const block = el("button", "", "Block");
  const done = () => li.remove();
  accept.addEventListener("click", () => request({ type: "accept", contact: { number: from.number } })
    .then(() => request({ type: "add", contact: { number: from.number } })).then(done, (e) => notice(e.text || e.code)));
  block.addEventListener("click", () => request({ type: "block", contact: { number: from.number } }).then(done, (e) => notice(e.text || e.code)));
  li.append(accept, block);
  $("requests").append(li);
}

function addLine(number, line, who) {
  if (who) ensureContact(who);
  if (!state.conversations.has(number)) state.conversations.set(number, []);
  state.conversations.get(number).push(line);
  if (number === state.current) renderMessages();
  else { const c = state.contacts.get(number); if (c) c.unread = true; }
  renderContacts();
}

function openConversation(number) {
  state.current = number;
  const c = state.contacts.get(number);
  c.unread = false;
  $("peer").textContent = nameOf(c);
  showTyping("");
  $("send-form").hidden = false;
  $("block").hidden = false;
  $("remove").hidden = false;
  renderContacts();
  renderMessages();
  $("text").focus();
}

function renderMessages() {
  const ol = $("messages");
  ol.replaceChildren();
  for (const line of state.conversations.get(state.current) || []) {
    const li = el("li", line.mine ? "mine" : "");
    if (line.failed) li.classList.add("failed");
    if (line.file) {
      li.append(el("span", "", "File: "));
      const a = el("a", "", line.file.name + " (" + line.file.size + " bytes)");
      if (/^https?:\/\//.test(line.file.url)) a.href = line.file.url;
      a.setAttribute("download", "");
      a.rel = "noopener noreferrer";
      li.append(a);
    } else {
      li.append(document.createTextNode(line.text));
    }
    let meta = line.sent ? new Date(line.sent).toLocaleString() : "";
    if (line.offline) meta += " · while you were away";
    if (line.result) meta += " · " + line.result;
    li.append(el("span", "meta", meta));
    ol.append(li);
  }
  ol.scrollTop = ol.scrollHeight;
}

function sendTyping(typing) {
  if (!state.current || state.typingSent === typing || state.ws.readyState !== WebSocket.OPEN) return;
  state.typingSent = typing;
  state.ws.send(JSON.stringify({ type: "typing", to: { number: state.current }, typing }));
}

function parseContact(s) {
  s = s.trim();
  if (/^\d+$/.test(s)) return { number: Number(s) };
  if (s.includes("@")) return { email: s };
  return { nick: s };
}

function sendFile(file) {
  const to = state.current;
  notice("Offering " + file.name + "…");
  request({ type: "file_offer", to: { number: to }, name: file.name, size: file.size }).then((up) => {
    if (up.type === "file_status") throw { text: up.status };
    notice("Uploading " + file.name + "…");
    const url = new URL(up.url, location.href.replace(/[^/]*$/, ""));
    return fetch(url, { method: "PUT", body: file, credentials: "same-origin" });
  }).then((resp) => resp.json().catch(() => ({ status: "failed" }))).then((st) => {
    if (st.status !== "sent") throw { text: st.status || "failed" };
    notice("File sent.");
    addLine(to, { mine: true, text: "Sent the file " + file.name, sent: new Date().toISOString() });
  }).catch((e) => notice("File not sent: " + (e.text || e.code || e)));
}

document.addEventListener("DOMContentLoaded", () => {
  // A page served to a browser signed in to the web pages carries a
  // single-use chat token: log in with it at once, and forget it.
  const meta = document.querySelector('meta[name="crosstalk-chat-token"]');
  if (meta && meta.content) {
    connect({ token: meta.content });
    meta.content = "";
  }
  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    $("login-error").textContent = "";
    connect({ email: $("login-email").value, password: $("login-password").value });
    $("login-password").value = "";
  });
  $("send-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("text").value;
    if (!text || !state.current) return;
    const line = { mine: true, text, sent: new Date().toISOString() };
    addLine(state.current, line);
    $("text").value = "";
    sendTyping(false);
    request({ type: "send", to: { number: state.current }, text }).then(
      (a) => { line.result = a.result; renderMessages(); },
      (err) => { line.failed = true; line.result = err.text || err.code; renderMessages(); });
  });
  $("text").addEventListener("input", () => {
    sendTyping($("text").value !== "");
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(() => sendTyping(false), 5000);
  });
  $("file").addEventListener("change", () => {
    const f = $("file").files[0];
    if (f && state.current) sendFile(f);
    $("file").value = "";
  });
  $("status").addEventListener("change", () => request({ type: "presence", status: $("status").value }).catch((e) => notice(e.text || e.code)));
  $("add-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const who = parseContact($("add-contact").value);
    request({ type: "add", contact: who }).then(() => { $("add-contact").value = ""; }, (err) => notice(err.text || err.code));
  });
  $("block").addEventListener("click", () => {
    const c = state.contacts.get(state.current);
    const op = c && c.lists.includes("BL") ? "unblock" : "block";
    request({ type: op, contact: { number: state.current } }).catch((e) => notice(e.text || e.code));
  });
  $("remove").addEventListener("click", () => {
    request({ type: "remove", contact: { number: state.current } }).catch((e) => notice(e.text || e.code));
  });
  $("logout").addEventListener("click", () => { state.ws.send(JSON.stringify({ type: "logout" })); });
});
