// Instructions page: practice rounds on drawn illustrations, with feedback. Each round is
// checked in the page (these examples have a clear answer; the study's pairs do not), and
// "Continue" is enabled once every round has been checked. Nothing here is sent anywhere.
(function () {
  "use strict";
  var section = document.getElementById("practice");
  if (!section) return;
  var rounds = Array.prototype.slice.call(section.querySelectorAll("form.practice-round"));
  var status = document.getElementById("practice-status");
  var proceed = document.querySelector("#instructions-done button, #instructions-done input[type=submit]");
  var NAMES = { A: "Image A", B: "Image B", same: "About the same" };

  function waitForPractice() {
    if (!proceed) return;
    proceed.disabled = true;
    status.textContent = "Finish the practice above to continue.";
  }

  function chosen(group) {
    var input = group.querySelector("input[type=radio]:checked");
    return input ? input.value : null;
  }

  function feedback(group) {
    var answer = group.dataset.answer, choice = chosen(group), text;
    var out = group.querySelector(".feedback");
    if (choice === answer) {
      text = "\u2713 Right: " + NAMES[answer] + ".";
    } else if (choice === "same") {
      text = "\u2717 Not quite: in this example there is a clear difference, and the answer is " + NAMES[answer] + ". " +
        (group.dataset.definition || "");
    } else {
      text = "\u2717 Not quite: the answer here is " + NAMES[answer] + ". " + (group.dataset.definition || "");
    }
    out.textContent = text;
    out.className = "feedback " + (choice === answer ? "right" : "wrong");
  }

  function check(round, index) {
    var groups = Array.prototype.slice.call(round.querySelectorAll("fieldset.question"));
    if (groups.some(function (g) { return chosen(g) === null; })) {
      status.textContent = "Answer every question of this example first.";
      return;
    }
    groups.forEach(feedback);
    round.querySelectorAll("input[type=radio]").forEach(function (r) { r.disabled = true; });
    round.querySelector("button.check").hidden = true;
    var next = round.querySelector("button.next-round");
    if (next && index + 1 < rounds.length) {
      next.hidden = false;
      next.focus();
      status.textContent = "";
    } else {
      status.textContent = "Practice done. Press Continue to start the study.";
      if (proceed) { proceed.disabled = false; proceed.focus(); }
    }
  }

  rounds.forEach(function (round, index) {
    round.addEventListener("submit", function (ev) { ev.preventDefault(); check(round, index); });
    var next = round.querySelector("button.next-round");
    if (next) {
      next.addEventListener("click", function () {
        round.hidden = true;
        var following = rounds[index + 1];
        following.hidden = false;
        var heading = following.querySelector("h3");
        heading.tabIndex = -1;
        heading.focus();
      });
    }
  });
  waitForPractice();
})();
