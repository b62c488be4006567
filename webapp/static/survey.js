// Trial page: answers are enabled once both images have loaded (response times start
// there), "Next" stays disabled until every question has an answer, and the answers
// are POSTed once with an idempotency key that survives a retry, a double click and
// a reload of the page. Offline: the page says so and keeps retrying.
(function () {
  "use strict";
  var form = document.getElementById("trial");
  if (!form) return;
  var next = document.getElementById("next");
  var status = document.getElementById("status");
  var loading = document.getElementById("loading");
  var groups = Array.prototype.slice.call(form.querySelectorAll("fieldset.question"));
  var images = Array.prototype.slice.call(form.querySelectorAll("img"));
  var answers = {};  // question id -> {side, rt_ms}
  var t0 = null;
  var sending = false;
  var storageKey = "camstudy:key:" + form.dataset.token + ":" + form.dataset.trial;

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var a = new Uint8Array(16);
    crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function idempotencyKey() {
    var key = null;
    try { key = sessionStorage.getItem(storageKey); } catch (e) { /* storage off */ }
    if (!key) {
      key = newKey();
      try { sessionStorage.setItem(storageKey, key); } catch (e) { /* storage off */ }
    }
    return key;
  }

  function complete() {
    return groups.every(function (g) { return answers[g.dataset.question]; });
  }

  function refresh() {
    next.disabled = sending || t0 === null || !complete();
  }

  function ready() {
    if (t0 !== null) return;
    t0 = performance.now();
    if (loading) loading.hidden = true;
    form.querySelectorAll("input[type=radio]").forEach(function (r) { r.disabled = false; });
    refresh();
    preload();
  }

  function preload() {
    document.querySelectorAll("link[rel=prefetch][as=image]").forEach(function (l) {
      var img = new Image();
      img.src = l.href;
    });
  }

  var pending = images.length;
  images.forEach(function (img) {
    function done() { pending -= 1; if (pending === 0) ready(); }
    if (img.complete && img.naturalWidth > 0) { done(); return; }
    img.addEventListener("load", done, { once: true });
    img.addEventListener("error", function () {
      status.textContent = "An image did not load. Reload the page to try again.";
    }, { once: true });
  });
  if (images.length === 0) ready();

  groups.forEach(function (g) {
    g.addEventListener("change", function (ev) {
      answers[g.dataset.question] = { side: ev.target.value, rt_ms: Math.max(0, Math.round(performance.now() - t0)) };
      refresh();
    });
  });

  document.addEventListener("keydown", function (ev) {
    if (ev.altKey || ev.ctrlKey || ev.metaKey || t0 === null) return;
    var side = { "1": "A", "2": "B", "3": "same", "a": "A", "b": "B", "s": "same" }[ev.key];
    if (side) {
      var group = groups.find(function (g) { return !answers[g.dataset.question]; }) || groups[groups.length - 1];
      var input = group && group.querySelector("input[value='" + side + "']");
      if (input) { input.checked = true; input.dispatchEvent(new Event("change", { bubbles: true })); input.focus(); }
      ev.preventDefault();
    } else if (ev.key === "Enter" && !next.disabled) {
      ev.preventDefault();
      submit();
    }
  });

  form.addEventListener("submit", function (ev) { ev.preventDefault(); submit(); });

  function submit() {
    if (sending || !complete() || t0 === null) return;
    sending = true;
    refresh();
    var body = JSON.stringify({
      idempotency_key: idempotencyKey(),
      answers: groups.map(function (g) {
        var a = answers[g.dataset.question];
        return { question_id: g.dataset.question, side: a.side, rt_ms: a.rt_ms };
      })
    });
    send(body, 0);
  }

  function send(body, attempt) {
    status.textContent = attempt ? "Saving… (retrying)" : "Saving…";
    fetch(form.dataset.answerUrl, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: body,
      credentials: "same-origin", cache: "no-store"
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (resp.ok) {
          try { sessionStorage.removeItem(storageKey); } catch (e) { /* storage off */ }
          status.textContent = "Saved.";
          window.location.replace(data.next_url);
        } else if (resp.status === 429 || resp.status >= 500) {
          retry(body, attempt, "The server is busy; trying again…");
        } else {
          sending = false;
          status.textContent = (data.error || "This answer could not be saved.") + " Reload the page to continue.";
        }
      });
    }).catch(function () {
      retry(body, attempt, "You seem to be offline. Your answers are kept and will be sent when the connection is back…");
    });
  }

  function retry(body, attempt, message) {
    status.textContent = message;
    var delay = Math.min(10000, 500 * Math.pow(2, attempt));
    setTimeout(function () { send(body, attempt + 1); }, delay);
  }
  window.addEventListener("online", function () { if (sending) status.textContent = "Back online, sending…"; });
})();
