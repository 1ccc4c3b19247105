// The chat page: just another client of the gateway. It lists models with GET /v1/models
// and sends with POST /v1/chat/completions (stream: true), naming the conversation in the
// x-talkline-conversation header; the page's JSON API (/api/...) lists what is stored.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var state = { conversation: null, history: [], controller: null, lastUser: null };
  var box = document.querySelector("textarea[name=message]");

  function api(path, options) {
    var opts = options || {};
    opts.credentials = "same-origin";
    opts.headers = Object.assign({ "content-type": "application/json" }, opts.headers || {});
    return fetch(path, opts).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (!r.ok) {
          var err = new Error((body.error && body.error.message) || ("HTTP " + r.status));
          err.status = r.status;
          throw err;
        }
        return body;
      });
    });
  }

  function show(id, visible) { $(id).classList.toggle("hidden", !visible); }
  function say(text) { $("status").textContent = text || ""; }

  function meta(m) {
    var parts = [];
    if (m.prompt_tokens != null || m.completion_tokens != null) {
      parts.push((m.prompt_tokens || 0) + " in + " + (m.completion_tokens || 0) + " out tokens");
    }
    if (m.cost != null) { parts.push("$" + Number(m.cost).toFixed(6) + (m.cost_estimated ? " (estimated)" : "")); }
    if (m.model) { parts.push(m.model); }
    if (m.status === "interrupted") { parts.push("stopped"); }
    if (m.status === "error" && m.error) { parts.push("error: " + m.error); }
    return parts.join(" · ");
  }

  function addMessage(role, text, status) {
    var el = document.createElement("div");
    el.className = "message";
    el.dataset.role = role;
    var body = document.createElement("div");
    body.className = "body";
    var info = document.createElement("div");
    info.className = "meta";
    el.appendChild(body);
    el.appendChild(info);
    if (role === "assistant") {
      el.dataset.status = status || "complete";
      window.talklineRender(body, text);
    } else {
      body.textContent = text || "";
    }
    $("messages").appendChild(el);
    el.scrollIntoView({ block: "end" });
    return el;
  }

  function renderConversation(messages) {
    $("messages").textContent = "";
    state.history = [];
    messages.forEach(function (m) {
      if (m.role !== "user" && m.role !== "assistant") { return; }
      var el = addMessage(m.role, m.content, m.status === "pending" ? "interrupted" : m.status);
      if (m.role === "assistant") { el.querySelector(".meta").textContent = meta(m); }
      if (m.role === "user" || m.status === "complete") {
        state.history.push({ role: m.role, content: m.content || "" });
      }
    });
    $("retry").disabled = !messages.some(function (m) { return m.role === "user"; });
  }

  function loadList() {
    var q = $("search").value.trim();
    return api("/api/conversations" + (q ? "?q=" + encodeURIComponent(q) : "")).then(function (body) {
      var list = $("conversations");
      list.textContent = "";
      body.data.forEach(function (c) {
        var li = document.createElement("li");
        li.textContent = c.title || "Untitled chat";
        li.dataset.id = c.id;
        li.title = c.turns + " turns · $" + Number(c.cost || 0).toFixed(6);
        if (state.conversation && state.conversation.id === c.id) { li.classList.add("active"); }
        li.addEventListener("click", function () { openConversation(c.id); });
        list.appendChild(li);
      });
    }).catch(function (e) { say(e.message); });
  }

  function openConversation(id) {
    return api("/api/conversations/" + encodeURIComponent(id)).then(function (body) {
      state.conversation = body.conversation;
      $("system").value = body.conversation.system || "";
      if (body.conversation.model) { pickModel(body.conversation.model); }
      renderConversation(body.messages);
      say("");
      loadList();
    }).catch(function (e) { say(e.message); });
  }

  function pickModel(name) {
    var select = $("model");
    if (![].some.call(select.options, function (o) { return o.value === name; })) {
      select.appendChild(new Option(name, name));
    }
    select.value = name;
  }

  function loadModels() {
    return api("/v1/models").then(function (body) {
      var select = $("model");
      select.textContent = "";
      (body.data || []).forEach(function (m) { select.appendChild(new Option(m.id, m.id)); });
    }).catch(function (e) { say("Could not list the models: " + e.message); });
  }

  function newChat() {
    state.conversation = null;
    state.history = [];
    $("messages").textContent = "";
    $("retry").disabled = true;
    say("");
    loadList();
    box.focus();
  }

  function ensureConversation() {
    if (state.conversation) { return Promise.resolve(state.conversation); }
    return api("/api/conversations", {
      method: "POST",
      body: JSON.stringify({ model: $("model").value || null, system: $("system").value || null })
    }).then(function (c) { state.conversation = c; return c; });
  }

  function busy(on) {
    $("send").disabled = on;
    $("stop").disabled = !on;
    $("retry").disabled = on;
  }

  // One SSE stream: "data: {...}" events until "data: [DONE]".
  function readStream(response, onChunk) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    function pump() {
      return reader.read().then(function (r) {
        if (r.done) { return; }
        buffer += decoder.decode(r.value, { stream: true });
        var events = buffer.split(/\r?\n\r?\n/);
        buffer = events.pop();
        events.forEach(function (event) {
          var data = event.split(/\r?\n/).filter(function (l) { return l.indexOf("data:") === 0; })
            .map(function (l) { return l.slice(5).replace(/^ /, ""); }).join("\n");
          if (data && data !== "[DONE]") { onChunk(JSON.parse(data)); }
        });
        return pump();
      });
    }
    return pump();
  }

  function send(text) {
    if (!text.trim() || state.controller) { return; }
    say("");
    var model = $("model").value;
    addMessage("user", text);
    var reply = addMessage("assistant", "", "streaming");
    var body = reply.querySelector(".body");
    var info = reply.querySelector(".meta");
    var content = "";
    var usage = null;
    var controller = new AbortController();
    state.controller = controller;
    busy(true);
    var messages = [];
    var system = $("system").value.trim();
    if (system) { messages.push({ role: "system", content: system }); }
    messages = messages.concat(state.history, [{ role: "user", content: text }]);
    ensureConversation().then(function (conv) {
      return fetch("/v1/chat/completions", {
        method: "POST",
        credentials: "same-origin",
        signal: controller.signal,
        headers: { "content-type": "application/json", "x-talkline-conversation": conv.id },
        body: JSON.stringify({ model: model, messages: messages, stream: true,
                               stream_options: { include_usage: true } })
      });
    }).then(function (response) {
      if (!response.ok) {
        return response.json().catch(function () { return {}; }).then(function (b) {
          throw new Error((b.error && b.error.message) || ("HTTP " + response.status));
        });
      }
      return readStream(response, function (chunk) {
        if (chunk.error) { throw new Error(chunk.error.message || "The stream failed."); }
        if (chunk.usage) { usage = chunk.usage; }
        var delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
        if (delta && delta.content) {
          content += delta.content;
          window.talklineRender(body, content);
        }
      });
    }).then(function () {
      reply.dataset.status = "complete";
      state.history.push({ role: "user", content: text }, { role: "assistant", content: content });
      info.textContent = meta({ model: model, prompt_tokens: usage && usage.prompt_tokens,
                                completion_tokens: usage && usage.completion_tokens });
      return refreshMeta(reply);
    }).catch(function (e) {
      window.talklineRender(body, content);
      if (controller.signal.aborted) {
        reply.dataset.status = "interrupted";
        info.textContent = "stopped";
      } else {
        reply.dataset.status = "error";
        info.textContent = e.message;
      }
      state.history.push({ role: "user", content: text });
    }).then(function () {
      state.controller = null;
      busy(false);
      loadList();
    });
  }

  // The stored turn's tokens and cost, as the gateway recorded them.
  function refreshMeta(reply) {
    if (!state.conversation) { return null; }
    return api("/api/conversations/" + encodeURIComponent(state.conversation.id)).then(function (b) {
      var last = b.messages.filter(function (m) { return m.role === "assistant"; }).pop();
      if (last && last.status === "complete") { reply.querySelector(".meta").textContent = meta(last); }
    }).catch(function () { /* the streamed usage stays shown */ });
  }

  function retry() {
    if (!state.conversation || state.controller) { return; }
    api("/api/conversations/" + encodeURIComponent(state.conversation.id) + "/retry", {
      method: "POST", body: "{}"
    }).then(function (b) {
      renderConversation(b.messages);
      send(b.retry.content || "");
    }).catch(function (e) { say(e.message); });
  }

  function start() {
    return api("/api/session").then(function (who) {
      show("login", false);
      show("app", true);
      $("who").textContent = who.whole_store ? "Owner: every conversation" : "Logged in as " + who.name;
      return Promise.all([loadModels(), loadList()]);
    }).catch(function (e) {
      if (e.status === 401) { show("app", false); show("login", true); $("login-key").focus(); }
      else { say(e.message); show("app", true); }
    });
  }

  $("login-form").addEventListener("submit", function (event) {
    event.preventDefault();
    $("login-error").textContent = "";
    api("/login", { method: "POST", body: JSON.stringify({ key: $("login-key").value }) })
      .then(function () { $("login-key").value = ""; return start(); })
      .catch(function (e) { $("login-error").textContent = e.message; });
  });
  $("logout").addEventListener("click", function () {
    api("/logout", { method: "POST", body: "{}" }).then(start, start);
  });
  $("composer").addEventListener("submit", function (event) {
    event.preventDefault();
    var text = box.value;
    box.value = "";
    send(text);
  });
  box.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("stop").addEventListener("click", function () {
    if (state.controller) { state.controller.abort(); }
  });
  $("retry").addEventListener("click", retry);
  $("new-chat").addEventListener("click", newChat);
  var searchTimer = null;
  $("search").addEventListener("input", function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(loadList, 200);
  });
  start();
})();
