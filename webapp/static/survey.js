// Trial page: answers are enabled once the images have loaded (response times start
// there), "Next" stays disabled until every question has an answer, and the answers
// are POSTed once with an idempotency key that survives a retry, a double click and
// a reload of the page. Offline: the page says so and keeps retrying.
//
// The answer POST's reply carries the next trial; when it fits this page (same kind,
// practice or not, same images slots, questions and options) this page shows it in place: the images it prefetched, the questions reset,
// the progress bar moved on and the address updated (a reload lands on that trial).
// Anything else (questionnaire, end of practice) is a normal page load of next_url.
(function () {
  "use strict";
  var form = document.getElementById("trial");
  if (!form) return;
  var next = document.getElementById("next");
  var status = document.getElementById("status");
  var loading = document.getElementById("loading");
  var groups = Array.prototype.slice.call(form.querySelectorAll("fieldset.question"));
  var radios = Array.prototype.slice.call(form.querySelectorAll("input[type=radio]"));
  var images = Array.prototype.slice.call(form.querySelectorAll("img"));
  var answers;  // question id -> {side, rt_ms}
  var t0;       // when the current trial's images were all on screen
  var sending;
  var generation = 0;  // bumped per trial: late image events of an earlier trial are ignored
  var preloaded = [];  // keeps prefetch Image objects alive until they are used

  function storageKey() { return "camstudy:key:" + form.dataset.token + ":" + form.dataset.trial; }
  // The choices made so far on this trial, kept until its answer is sent (a reload keeps them).
  function choicesKey(key) { return (key || storageKey()).replace("camstudy:key:", "camstudy:choices:"); }

  function saveChoices() {
    try { sessionStorage.setItem(choicesKey(), JSON.stringify(answers)); } catch (e) { /* storage off */ }
  }

  function restoreChoices() {
    var saved = null;
    try { saved = JSON.parse(sessionStorage.getItem(choicesKey()) || "null"); } catch (e) { /* storage off or bad */ }
    if (!saved || typeof saved !== "object") return;
    groups.forEach(function (g) {
      var a = saved[g.dataset.question];
      if (!a || typeof a.rt_ms !== "number") return;
      var input = radios.find(function (r) { return r.name === g.dataset.question && r.value === a.side; });
      if (!input) return;
      input.checked = true;
      answers[g.dataset.question] = { side: a.side, rt_ms: Math.max(0, Math.round(a.rt_ms)) };
    });
  }

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var a = new Uint8Array(16);
    crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function idempotencyKey() {
    var key = null;
    try { key = sessionStorage.getItem(storageKey()); } catch (e) { /* storage off */ }
    if (!key) {
      key = newKey();
      try { sessionStorage.setItem(storageKey(), key); } catch (e) { /* storage off */ }
    }
    return key;
  }

  function complete() {
    return groups.every(function (g) { return answers[g.dataset.question]; });
  }

  function refresh() {
    next.disabled = sending || t0 === null || !complete();
  }

  function preload(urls) {
    preloaded = urls.map(function (url) { var img = new Image(); img.src = url; return img; });
  }

  function prefetchLinks() {
    return Array.prototype.map.call(document.querySelectorAll("link[rel=prefetch][as=image]"),
      function (l) { return l.href; });
  }

  // Start a trial: wait for its images, then enable the answers and start the clock.
  function begin(preloadUrls) {
    var mine = ++generation;
    answers = {};
    t0 = null;
    sending = false;
    radios.forEach(function (r) { r.checked = false; r.disabled = true; });
    if (loading) loading.hidden = false;
    refresh();
    var pending = images.length;
    function ready() {
      if (mine !== generation || t0 !== null) return;
      t0 = performance.now();
      if (loading) loading.hidden = true;
      radios.forEach(function (r) { r.disabled = false; });
      restoreChoices();
      refresh();
      preload(preloadUrls);
    }
    images.forEach(function (img) {
      function done() { if (mine !== generation) return; pending -= 1; if (pending === 0) ready(); }
      if (img.complete && img.naturalWidth > 0) { done(); return; }
      img.addEventListener("load", done, { once: true });
      img.addEventListener("error", function () {
        if (mine === generation) status.textContent = "An image did not load. Reload the page to try again.";
      }, { once: true });
    });
    if (images.length === 0) ready();
  }

  // Whether the next trial fits this page's layout: same kind (practice or not), the same
  // image slots, questions and options (a re-import may change them mid-session).
  function fits(trial) {
    if (!trial || !trial.images || String(trial.is_practice) !== form.dataset.practice) return false;
    var slots = ["original", "a", "b"].filter(function (k) { return trial.images[k]; });
    var ids = trial.questions.map(function (q) { return q.id; });
    var shown = radios.filter(function (r) { return r.name === groups[0].dataset.question; })
      .map(function (r) { return r.value; });
    return slots.join() === images.map(function (img) { return img.dataset.image; }).join() &&
      ids.join() === groups.map(function (g) { return g.dataset.question; }).join() &&
      trial.options.join() === shown.join();
  }

  // Show the next trial in this page (same layout: only images, progress and labels change).
  function show(trial, url) {
    form.dataset.answerUrl = trial.answer_url;
    form.dataset.trial = String(trial.trial_index);
    images.forEach(function (img) { img.src = trial.images[img.dataset.image]; });
    trial.questions.forEach(function (q, i) { groups[i].querySelector("legend").textContent = q.text; });
    var bar = document.getElementById("progress");
    var label = document.getElementById("progress-label");
    if (bar) bar.value = trial.progress.answered;
    if (label) label.textContent = "Progress: " + trial.progress.answered + " of " + trial.progress.total;
    var action = trial.is_last ? "Finish" : "Next";
    next.textContent = action;
    var enter = document.getElementById("enter-action");
    if (enter) enter.textContent = action;
    history.replaceState(null, "", url);
    window.scrollTo(0, 0);
    status.textContent = "Saved. Next image pair.";
    begin(trial.preload);
  }

  groups.forEach(function (g) {
    g.addEventListener("change", function (ev) {
      answers[g.dataset.question] = { side: ev.target.value, rt_ms: Math.max(0, Math.round(performance.now() - t0)) };
      saveChoices();
      refresh();
    });
  });

  document.addEventListener("keydown", function (ev) {
    if (ev.altKey || ev.ctrlKey || ev.metaKey || t0 === null || sending) return;
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
    var key = storageKey();
    var body = JSON.stringify({
      idempotency_key: idempotencyKey(),
      answers: groups.map(function (g) {
        var a = answers[g.dataset.question];
        return { question_id: g.dataset.question, side: a.side, rt_ms: a.rt_ms };
      })
    });
    send(form.dataset.answerUrl, body, key, 0);
  }

  function send(url, body, key, attempt) {
    status.textContent = attempt ? "Saving… (retrying)" : "Saving…";
    fetch(url, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: body,
      credentials: "same-origin", cache: "no-store"
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (resp.ok) {
          try { sessionStorage.removeItem(key); sessionStorage.removeItem(choicesKey(key)); } catch (e) { /* storage off */ }
          var trial = data.next_trial;
          if (fits(trial)) {
            show(trial, data.next_url);
          } else {
            status.textContent = "Saved.";
            window.location.replace(data.next_url);
          }
        } else if (resp.status === 429 || resp.status >= 500) {
          retry(url, body, key, attempt, "The server is busy; trying again…");
        } else {
          sending = false;
          status.textContent = (data.error || "This answer could not be saved.") + " Reload the page to continue.";
        }
      });
    }).catch(function () {
      retry(url, body, key, attempt, "You seem to be offline. Your answers are kept and will be sent when the connection is back…");
    });
  }

  function retry(url, body, key, attempt, message) {
    status.textContent = message;
    var delay = Math.min(10000, 500 * Math.pow(2, attempt));
    setTimeout(function () { send(url, body, key, attempt + 1); }, delay);
  }
  window.addEventListener("online", function () { if (sending) status.textContent = "Back online, sending…"; });

  begin(prefetchLinks());
})();
