// Admin dashboard: refresh the live counts every 5 seconds.
(function () {
  "use strict";
  var box = document.getElementById("counts");
  if (!box) return;
  function poll() {
    fetch(box.dataset.url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        box.querySelectorAll("[data-count]").forEach(function (el) {
          if (el.dataset.count in data) el.textContent = data[el.dataset.count];
        });
      })
      .catch(function () { /* keep the last numbers */ });
  }
  setInterval(poll, 5000);
})();
