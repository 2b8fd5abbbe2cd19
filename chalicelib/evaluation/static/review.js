// Tunegate human review page: one item (rubric: one answer; pairwise: one pair) at a time.
// The key is asked for once and kept in sessionStorage (this tab only); every data call sends
// it as x-api-key to the evaluation's JSON routes. Every text goes in through textContent.
(function () {
  "use strict";
  var KEY = "tunegate.review.key";
  var NAME = "tunegate.review.name";
  var base = new URL("./", location.href); // .../v1/evaluations/<id>/
  var $ = function (id) { return document.getElementById(id); };
  var state = { mode: null, tasks: [], at: 0, mine: {}, order: {}, reviewer: null };

  function say(text) { $("status").textContent = text; }

  function api(path, options) {
    options = options || {};
    var headers = { "x-api-key": sessionStorage.getItem(KEY) || "" };
    if (options.body) { headers["content-type"] = "application/json"; }
    return fetch(new URL(path, base), {
      method: options.method || "GET", headers: headers, body: options.body,
      credentials: "omit", cache: "no-store"
    }).then(function (response) {
      return response.json().then(function (body) {
        if (response.ok) { return body; }
        var error = new Error((body.error && body.error.message) || response.statusText);
        error.status = response.status;
        throw error;
      });
    });
  }

  function taskKey(index, models) { return index + "|" + models.join("|"); }

  function loadItems(cursor, byIndex) {
    var path = "items?limit=1000" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
    return api(path).then(function (page) {
      page.items.forEach(function (record) {
        var item = byIndex[record.index] || (byIndex[record.index] = {
          index: record.index, input: record.input, reference: record.reference, answers: {}
        });
        item.answers[record.model] = record;
      });
      return page.next_cursor ? loadItems(page.next_cursor, byIndex) : byIndex;
    });
  }

  function start() {
    say("Loading…");
    api("reviews").then(function (reviews) {
      state.mode = reviews.mode;
      state.reviewer = reviews.reviewer;
      reviews.reviews.forEach(remember);
      showAgreement(reviews.human_review);
      return loadItems(null, {}).then(function (byIndex) {
        var indexes = Object.keys(byIndex).map(Number).sort(function (a, b) { return a - b; });
        indexes.forEach(function (index) {
          var item = byIndex[index];
          reviews.subjects.forEach(function (models) {
            var answered = models.every(function (m) {
              return item.answers[m] && item.answers[m].status !== "error";
            });
            if (answered) { state.tasks.push({ item: item, models: models }); }
          });
        });
        $("login").hidden = true;
        $("review").hidden = false;
        $("help").textContent = state.mode === "rubric"
          ? "Keys: 1–5 rate this answer · n next · p previous"
          : "Keys: a answer A is better · b answer B is better · t tie · n next · p previous";
        buildControls();
        var first = state.tasks.findIndex(function (t) {
          return !state.mine[taskKey(t.item.index, t.models)];
        });
        show(first < 0 ? 0 : first);
        say(state.tasks.length + " to review.");
      });
    }).catch(function (error) {
      if (error.status === 403) { sessionStorage.removeItem(KEY); $("login").hidden = false; }
      say("Cannot load the evaluation: " + error.message);
    });
  }

  function button(label, title, action) {
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.title = title;
    b.addEventListener("click", action);
    $("controls").appendChild(b);
  }

  function buildControls() {
    // The same actions as the keys, for a mouse or a touch screen.
    $("controls").textContent = "";
    button("Previous (p)", "previous item", function () { show(state.at - 1); });
    if (state.mode === "rubric") {
      [1, 2, 3, 4, 5].forEach(function (n) {
        button(String(n), "rate " + n + " of 5", function () { rate(n); });
      });
    } else {
      button("A is better (a)", "answer A is better", function () { rate("A"); });
      button("Tie (t)", "neither is better", function () { rate("tie"); });
      button("B is better (b)", "answer B is better", function () { rate("B"); });
    }
    button("Next (n)", "next item", function () { show(state.at + 1); });
  }

  function remember(review) {
    if (review.reviewer === state.reviewer) {
      state.mine[taskKey(review.index, review.models)] = review;
    }
  }

  function shownOrder(task) {
    // Pairwise: which answer is A is drawn at random once per item and pair, and recorded.
    var key = taskKey(task.item.index, task.models);
    if (!state.order[key]) {
      state.order[key] = Math.random() < 0.5 ? task.models.slice() : task.models.slice().reverse();
    }
    return state.order[key];
  }

  function text(value) {
    if (typeof value === "string") { return value; }
    if (Array.isArray(value)) {
      return value.map(function (turn) { return turn.role + ": " + turn.content; }).join("\n\n");
    }
    return JSON.stringify(value, null, 2);
  }

  function show(at) {
    if (!state.tasks.length) { say("Nothing to review: no answered items."); return; }
    state.at = Math.max(0, Math.min(at, state.tasks.length - 1));
    var task = state.tasks[state.at];
    $("position").textContent = "Item " + task.item.index + " · " + (state.at + 1) + " of " +
      state.tasks.length;
    $("input").textContent = text(task.item.input);
    $("reference").textContent = text(task.item.reference);
    var answers = $("answers");
    answers.textContent = "";
    var shown = state.mode === "rubric" ? task.models : shownOrder(task);
    shown.forEach(function (model, i) {
      var box = document.createElement("article");
      var head = document.createElement("h3");
      head.textContent = state.mode === "rubric" ? "Answer" : "Answer " + "AB"[i];
      var body = document.createElement("pre");
      body.textContent = task.item.answers[model].output || "";
      box.appendChild(head);
      box.appendChild(body);
      answers.appendChild(box);
    });
    var mine = state.mine[taskKey(task.item.index, task.models)];
    $("current").textContent = mine ? "Your call: " + describe(mine, shown) : "Not rated yet.";
  }

  function describe(review, shown) {
    if (state.mode === "rubric") { return review.rating + " of 5"; }
    if (review.verdict === "tie") { return "tie"; }
    var winner = review.verdict === "first" ? review.models[0] : review.models[1];
    return "answer " + (shown[0] === winner ? "A" : "B");
  }

  function rate(value) {
    var task = state.tasks[state.at];
    if (!task) { return; }
    var body = { index: task.item.index };
    var name = sessionStorage.getItem(NAME);
    if (name) { body.reviewer_name = name; }
    if (state.mode === "rubric") {
      body.models = task.models;
      body.rating = value;
    } else {
      body.models = shownOrder(task);
      body.choice = value;
    }
    say("Saving…");
    api("reviews", { method: "POST", body: JSON.stringify(body) }).then(function (stored) {
      state.mine[taskKey(stored.index, stored.models)] = stored;
      say("Saved (revision " + stored.revision + ").");
      show(state.at + 1);
      return api("reviews").then(function (reviews) { showAgreement(reviews.human_review); });
    }).catch(function (error) { say("Not saved: " + error.message); });
  }

  function fixed(value) { return value === null || value === undefined ? "–" : value.toFixed(3); }

  function showAgreement(summary) {
    var box = $("agreement");
    box.textContent = "";
    if (!summary) { return; }
    var lines = ["Judge vs humans: kappa " + fixed(summary.kappa) + " (n = " + summary.n + ")" +
      (summary.weighted_kappa !== undefined ? ", quadratic-weighted kappa " +
        fixed(summary.weighted_kappa) : "") + ", " + summary.n_reviews + " reviews by " +
      summary.n_reviewers + " reviewer(s)"];
    summary.reviewers.forEach(function (r) {
      lines.push((r.name || r.reviewer) + ": " + r.reviews + " reviews, kappa " + fixed(r.kappa) +
        " (n = " + r.n + ")");
    });
    lines.forEach(function (line) {
      var p = document.createElement("p");
      p.textContent = line;
      box.appendChild(p);
    });
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || $("review").hidden) { return; }
    var tag = event.target && event.target.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA") { return; }
    var key = event.key.toLowerCase();
    if (key === "n") { show(state.at + 1); }
    else if (key === "p") { show(state.at - 1); }
    else if (state.mode === "rubric" && "12345".indexOf(key) >= 0 && key.length === 1) {
      rate(Number(key));
    } else if (state.mode === "pairwise" && (key === "a" || key === "b")) {
      rate(key.toUpperCase());
    } else if (state.mode === "pairwise" && key === "t") { rate("tie"); }
    else { return; }
    event.preventDefault();
  });

  $("login").addEventListener("submit", function (event) {
    event.preventDefault();
    sessionStorage.setItem(KEY, $("key").value);
    var name = $("name").value.trim();
    if (name) { sessionStorage.setItem(NAME, name); } else { sessionStorage.removeItem(NAME); }
    $("key").value = "";
    start();
  });

  if (sessionStorage.getItem(KEY)) { start(); } else { $("key").focus(); }
})();
