/*
 * Tunegate feedback widget: a dependency-free custom element that rates one model answer.
 *
 *   <script src="https://API/widget/feedback.js" defer></script>
 *   <tunegate-feedback invocation-id="..." token="..." api="https://API"></tunegate-feedback>
 *
 * Attributes: invocation-id and token (from the invoke response's `invocation_id` and
 * `feedback_token`), api (the API base URL; defaults to where this script was loaded from),
 * hide-thumbs, hide-comment, label (the rating group's accessible name).
 * Each change posts the whole feedback (rating, thumbs, sent comment) to {api}/v1/feedback:
 * the API keeps one record per invocation, so a later post replaces the earlier one.
 * Events (bubbling, composed): "tunegate-feedback" {detail: {status, record}} on success,
 * "tunegate-feedback-error" {detail: {status, code, message}} on failure.
 */
(() => {
  "use strict";
  const TAG = "tunegate-feedback";
  if (window.customElements.get(TAG)) return;

  const MAX_COMMENT = 2000;
  const ARROW_POST_DELAY_MS = 400; // arrows check a star; post once the user settles
  const SCRIPT_BASE = (() => {
    const src = document.currentScript && document.currentScript.src;
    return src ? src.replace(/\/widget\/feedback\.js(?:[?#].*)?$/, "") : "";
  })();

  const STYLE = `
    :host { display: block; font: inherit; color: var(--tg-color, #1f2328);
            --tg-accent: #0b57d0; --tg-star: #b0b7c3; --tg-star-on: #e3a008;
            --tg-error: #b3261e; --tg-ok: #146c2e; }
    :host([hidden]) { display: none; }
    .box { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem .75rem; }
    [role=radiogroup] { display: inline-flex; gap: .125rem; }
    [role=radio], button { font: inherit; border: 1px solid transparent; border-radius: .375rem;
            background: transparent; cursor: pointer; padding: .125rem .25rem; }
    [role=radio] { font-size: 1.5rem; line-height: 1; color: var(--tg-star); }
    [role=radio].on { color: var(--tg-star-on); }
    button.thumb { font-size: 1.25rem; border-color: #d0d7de; }
    button.thumb[aria-pressed=true] { background: #e8f0fe; border-color: var(--tg-accent); }
    button.send { border-color: var(--tg-accent); color: var(--tg-accent); padding: .25rem .75rem; }
    :focus-visible { outline: 3px solid var(--tg-accent); outline-offset: 2px; }
    [aria-disabled=true] { cursor: progress; opacity: .6; }
    .comment { flex-basis: 100%; display: flex; flex-direction: column; gap: .25rem; }
    textarea { font: inherit; width: 100%; box-sizing: border-box; min-height: 3.5rem; }
    .row { display: flex; justify-content: space-between; align-items: center; gap: .5rem; }
    .count { font-size: .8em; color: #57606a; }
    .status { flex-basis: 100%; margin: 0; min-height: 1.25em; font-size: .9em; }
    .status[data-state=error], .status[data-state=unavailable] { color: var(--tg-error); }
    .status[data-state=ok] { color: var(--tg-ok); }
    .sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  `;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  class TunegateFeedback extends HTMLElement {
    static get observedAttributes() {
      return ["invocation-id", "token", "api", "hide-thumbs", "hide-comment", "label"];
    }

    constructor() {
      super();
      this._rating = null;
      this._thumbs = null;
      this._comment = null; // the comment as last sent, kept in every later post
      this._busy = false;
      this._timer = null;
      this._root = this.attachShadow({ mode: "open" });
      this._build();
    }

    connectedCallback() { this._render(); }

    disconnectedCallback() { clearTimeout(this._timer); }

    attributeChangedCallback(name, oldValue, newValue) {
      if (name === "invocation-id" && oldValue !== null && oldValue !== newValue) {
        this._rating = this._thumbs = this._comment = null; // a new answer to rate
        this._textarea.value = "";
        this._setStatus("", "");
      }
      this._render();
    }

    get rating() { return this._rating; }
    get thumbs() { return this._thumbs; }

    _build() {
      const root = this._root;
      root.appendChild(el("style", {}, STYLE));
      const box = el("div", { class: "box", part: "box" });
      this._group = el("div", { role: "radiogroup", part: "stars" });
      this._stars = [1, 2, 3, 4, 5].map((value) => {
        const star = el("span", {
          role: "radio", "aria-checked": "false", tabindex: "-1", part: "star",
          "aria-label": `${value} star${value > 1 ? "s" : ""}`, "data-value": String(value),
        }, "\u2605");
        star.addEventListener("click", () => this._choose(value, true));
        star.addEventListener("keydown", (event) => this._onStarKey(event, value));
        this._group.appendChild(star);
        return star;
      });
      box.appendChild(this._group);

      this._thumbBox = el("div", { role: "group", "aria-label": "Thumbs", part: "thumbs" });
      this._thumbButtons = ["up", "down"].map((direction) => {
        const button = el("button", {
          type: "button", class: "thumb", "aria-pressed": "false", part: `thumb-${direction}`,
          "aria-label": direction === "up" ? "Thumbs up" : "Thumbs down",
          "data-thumbs": direction,
        }, direction === "up" ? "\u{1F44D}" : "\u{1F44E}");
        button.addEventListener("click", () => this._toggleThumb(direction));
        this._thumbBox.appendChild(button);
        return button;
      });
      box.appendChild(this._thumbBox);

      this._commentBox = el("div", { class: "comment", part: "comment" });
      const id = `c${Math.random().toString(36).slice(2)}`;
      this._commentBox.appendChild(el("label", { for: id, class: "sr" }, "Comment (optional)"));
      this._textarea = el("textarea", {
        id, maxlength: String(MAX_COMMENT), rows: "3", placeholder: "Add a comment (optional)",
      });
      const row = el("div", { class: "row" });
      this._count = el("span", { class: "count", "aria-live": "off" }, `0/${MAX_COMMENT}`);
      this._send = el("button", { type: "button", class: "send", part: "submit" }, "Send");
      this._textarea.addEventListener("input", () => {
        this._count.textContent = `${this._textarea.value.length}/${MAX_COMMENT}`;
      });
      this._send.addEventListener("click", () => this._submitComment());
      row.append(this._count, this._send);
      this._commentBox.append(this._textarea, row);
      box.appendChild(this._commentBox);

      this._status = el("p", { class: "status", role: "status", "aria-live": "polite",
                               part: "status" });
      box.appendChild(this._status);
      root.appendChild(box);
    }

    _config() {
      const api = (this.getAttribute("api") || SCRIPT_BASE).replace(/\/+$/, "");
      return {
        invocationId: this.getAttribute("invocation-id") || "",
        token: this.getAttribute("token") || "",
        endpoint: api ? `${api}/v1/feedback` : "",
      };
    }

    _ready() {
      const c = this._config();
      return Boolean(c.invocationId && c.token && c.endpoint);
    }

    _render() {
      const disabled = this._busy || !this._ready();
      this._group.setAttribute("aria-label", this.getAttribute("label") || "Rate this answer");
      const focusValue = this._rating || 1; // roving tabindex: one star in the tab order
      this._stars.forEach((star, i) => {
        const value = i + 1;
        star.setAttribute("aria-checked", String(value === this._rating));
        star.classList.toggle("on", this._rating !== null && value <= this._rating);
        star.setAttribute("tabindex", value === focusValue ? "0" : "-1");
      });
      this._group.setAttribute("aria-disabled", String(disabled));
      this._thumbBox.hidden = this.hasAttribute("hide-thumbs");
      this._thumbButtons.forEach((button) => {
        button.setAttribute("aria-pressed", String(button.dataset.thumbs === this._thumbs));
        button.setAttribute("aria-disabled", String(disabled));
      });
      this._commentBox.hidden = this.hasAttribute("hide-comment");
      this._textarea.readOnly = this._busy;
      this._send.setAttribute("aria-disabled", String(disabled));
      this._root.host.setAttribute("aria-busy", String(this._busy));
      if (!this._ready()) {
        this._setStatus("Feedback is unavailable for this answer.", "unavailable");
      }
      else if (this._status.dataset.state === "unavailable") this._setStatus("", "");
    }

    _onStarKey(event, value) {
      if (this._busy) {
        if (event.key !== "Tab") event.preventDefault();
        return;
      }
      const keys = { ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1 };
      let next = null;
      if (event.key in keys) next = ((value - 1 + keys[event.key] + 5) % 5) + 1;
      else if (event.key === "Home") next = 1;
      else if (event.key === "End") next = 5;
      else if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        this._choose(value, true);
        return;
      } else return;
      event.preventDefault();
      this._stars[next - 1].focus();
      this._choose(next, false);
    }

    _choose(value, now) {
      if (this._busy || !this._ready()) return;
      this._rating = value;
      this._render();
      this._stars[value - 1].focus();
      clearTimeout(this._timer);
      if (now) this._post();
      else this._timer = setTimeout(() => this._post(), ARROW_POST_DELAY_MS);
    }

    _toggleThumb(direction) {
      if (this._busy || !this._ready()) return;
      const next = this._thumbs === direction ? null : direction;
      if (next === null && this._rating === null) return; // the API needs a rating or thumbs
      this._thumbs = next;
      this._post();
    }

    _submitComment() {
      if (this._busy || !this._ready()) return;
      const text = this._textarea.value.trim();
      if (text.length > MAX_COMMENT) {
        this._setStatus(`Keep the comment under ${MAX_COMMENT} characters.`, "error");
        return;
      }
      if (this._rating === null && this._thumbs === null) {
        this._setStatus("Choose a rating or a thumb first, then send your comment.", "error");
        return;
      }
      this._comment = text || null;
      this._post();
    }

    async _post() {
      clearTimeout(this._timer);
      if (this._busy || !this._ready()) return;
      if (this._rating === null && this._thumbs === null) return;
      const { invocationId, token, endpoint } = this._config();
      const body = { invocation_id: invocationId, feedback_token: token };
      if (this._rating !== null) body.rating = this._rating;
      if (this._thumbs !== null) body.thumbs = this._thumbs;
      if (this._comment) body.comment = this._comment;
      this._busy = true;
      this._setStatus("Sending\u2026", "busy");
      this._render();
      let outcome;
      try {
        const response = await fetch(endpoint, {
          method: "POST",
          mode: "cors",
          credentials: "omit",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(body),
        });
        const payload = await response.json().catch(() => null);
        if (response.ok) {
          outcome = { ok: true, detail: { status: response.status, record: payload } };
        } else {
          const error = (payload && payload.error) || {};
          outcome = { ok: false, detail: {
            status: response.status, code: error.code || "http_error",
            message: error.message || `Feedback was not accepted (HTTP ${response.status}).`,
          } };
        }
      } catch (err) {
        outcome = { ok: false, detail: {
          status: 0, code: "network_error",
          message: "Could not reach the feedback service. Check your connection and try again.",
        } };
      }
      this._busy = false;
      if (outcome.ok) this._setStatus("Thanks!", "ok");
      else this._setStatus(outcome.detail.message, "error");
      this._render();
      this.dispatchEvent(new CustomEvent(outcome.ok ? TAG : `${TAG}-error`, {
        detail: outcome.detail, bubbles: true, composed: true,
      }));
    }

    _setStatus(text, state) {
      this._status.textContent = text;
      this._status.dataset.state = state;
      this._status.setAttribute("role", state === "error" ? "alert" : "status");
    }
  }

  window.customElements.define(TAG, TunegateFeedback);
})();
