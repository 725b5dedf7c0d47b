// Sparrow Movies — the few interactive bits, in plain JavaScript (no framework, no build step).
// Pages are rendered on the server; this file only calls the REST API:
//   POST /api/ratings, POST /api/events, GET /api/movies/{id}/similar, GET /api/users/{id}/recommendations.
// Everything is wired by event delegation on `document`, so cards re-rendered from JSON work as well.
// Text from the API is always inserted with textContent, never as HTML.
"use strict";

(function () {
  const USER_COOKIE = "sparrow_user";
  const USER_KEY = "sparrow.user";

  // ---- the visitor's user id (cookie for the server, localStorage as a fallback) -----------------
  function pickedUser() {
    const fromBody = document.body.dataset.userId;
    if (fromBody) return Number(fromBody);
    const stored = window.localStorage ? localStorage.getItem(USER_KEY) : null;
    return stored && /^[1-9][0-9]*$/.test(stored) ? Number(stored) : null;
  }

  function setUser(id) {
    if (id) {
      document.cookie = USER_COOKIE + "=" + id + "; path=/; max-age=31536000; SameSite=Lax";
      if (window.localStorage) localStorage.setItem(USER_KEY, String(id));
      document.body.dataset.userId = String(id);
    } else {
      document.cookie = USER_COOKIE + "=; path=/; max-age=0; SameSite=Lax";
      if (window.localStorage) localStorage.removeItem(USER_KEY);
      document.body.dataset.userId = "";
    }
  }

  function withoutUserParam() {
    const url = new URL(window.location.href);
    url.searchParams.delete("user");
    return url.pathname + url.search + url.hash;
  }

  // ---- small DOM + fetch helpers ----------------------------------------------------------------
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([key, value]) => {
      if (value === null || value === undefined || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    });
    (children || []).forEach((child) => child && node.appendChild(child));
    return node;
  }

  async function api(method, url, body) {
    const options = { method: method, headers: { Accept: "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
      options.keepalive = true;
    }
    const response = await fetch(url, options);
    let payload = null;
    try { payload = await response.json(); } catch (_) { payload = null; }
    if (!response.ok) {
      const message = payload && payload.error ? payload.error.message : "HTTP " + response.status;
      throw new Error(message);
    }
    return payload;
  }

  // ---- poster cards built from API JSON (mirrors templates/_cards.html) ---------------------------
  function posterLink(movie, extraClass) {
    return el("a", { class: "card-link" + (extraClass ? " " + extraClass : ""), href: "/movies/" + movie.movieId }, [
      el("img", {
        class: "poster", src: "/posters/" + movie.movieId + ".svg", alt: "Poster of " + movie.title,
        width: 200, height: 300, loading: "lazy",
      }),
      el("h3", { class: "card-title", text: movie.title }),
    ]);
  }

  function movieCard(movie) {
    const meta = el("p", { class: "card-meta" }, [
      movie.year ? el("span", { text: String(movie.year) }) : null,
      movie.ratingCount ? el("span", { class: "rating", text: "★ " + Number(movie.avgRating).toFixed(1) }) : null,
    ]);
    return el("article", { class: "card", "data-movie-id": movie.movieId }, [posterLink(movie), meta]);
  }

  function ratingWidget(movieId) {
    const stars = [1, 2, 3, 4, 5].map((v) =>
      el("button", {
        type: "button", class: "star", "data-value": v, role: "radio", "aria-checked": "false",
        "aria-label": "Rate " + v + " star" + (v > 1 ? "s" : ""), text: "★",
      }));
    return el("div", { class: "rating-widget compact", "data-movie-id": movieId, "data-current": "" }, [
      el("div", { class: "stars", role: "radiogroup", "aria-label": "Rate this movie" }, stars),
      el("span", { class: "rating-status", role: "status", "aria-live": "polite" }),
    ]);
  }

  function recCell(item, recs) {
    const link = posterLink(item, "rec-link");
    link.dataset.movieId = item.movieId;
    link.dataset.experiment = recs.experiment || "";
    link.dataset.variant = recs.variant || "";
    link.dataset.userId = recs.userId || "";
    const meta = el("p", { class: "card-meta" }, [
      item.year ? el("span", { text: String(item.year) }) : null,
      el("span", { class: "score", title: "ranking score", text: Number(item.score).toFixed(3) }),
    ]);
    const why = (item.channels || []).length
      ? el("p", { class: "why", "aria-label": "Why recommended" },
        item.channels.map((c) => el("span", { class: "chip chip-" + c, text: c })))
      : null;
    const card = el("article", { class: "card rec-card", "data-movie-id": item.movieId }, [link, meta, why]);
    return el("div", { class: "rec-cell" }, [card, ratingWidget(item.movieId)]);
  }

  // ---- user picker --------------------------------------------------------------------------------
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.id !== "user-picker") return;
    event.preventDefault();
    const value = form.querySelector("input[name=user]").value.trim();
    if (!/^[1-9][0-9]*$/.test(value)) {
      form.querySelector("input[name=user]").focus();
      return;
    }
    setUser(Number(value));
    window.location.assign(withoutUserParam());
  });

  document.addEventListener("click", (event) => {
    const signout = event.target.closest("#user-signout");
    if (signout) {
      setUser(null);
      window.location.assign(withoutUserParam());
      return;
    }
    const pick = event.target.closest("[data-pick-user]");
    if (pick) {
      event.preventDefault();
      setUser(Number(pick.dataset.pickUser));
      window.location.assign(pick.tagName === "A" ? "/" : withoutUserParam());
    }
  });

  // ---- star rating widgets ------------------------------------------------------------------------
  function paint(widget, value, cls) {
    widget.querySelectorAll(".star").forEach((star) => {
      star.classList.toggle(cls, Number(star.dataset.value) <= value);
    });
  }

  document.addEventListener("mouseover", (event) => {
    const star = event.target.closest(".star");
    if (star) paint(star.closest(".rating-widget"), Number(star.dataset.value), "hover");
  });
  document.addEventListener("mouseout", (event) => {
    const star = event.target.closest(".star");
    if (star) paint(star.closest(".rating-widget"), 0, "hover");
  });

  function ratingUser(widget) {
    // on a user page you rate as that user; elsewhere as the picked user, or the id typed in the widget
    const page = widget.closest("[data-user-id]:not(body)");
    if (page && page.dataset.userId) return Number(page.dataset.userId);
    const picked = pickedUser();
    if (picked) return picked;
    const typed = widget.querySelector(".ask-user-input");
    if (typed && /^[1-9][0-9]*$/.test(typed.value.trim())) {
      setUser(Number(typed.value.trim()));
      return Number(typed.value.trim());
    }
    return null;
  }

  document.addEventListener("click", async (event) => {
    const star = event.target.closest(".rating-widget .star");
    if (!star) return;
    const widget = star.closest(".rating-widget");
    const status = widget.querySelector(".rating-status");
    const userId = ratingUser(widget);
    if (!userId) {
      const ask = widget.querySelector(".ask-user");
      if (ask) ask.hidden = false;
      status.classList.add("error");
      status.textContent = "Enter your user id, then pick the stars.";
      const input = widget.querySelector(".ask-user-input");
      if (input) input.focus();
      return;
    }
    const rating = Number(star.dataset.value);
    const movieId = Number(widget.dataset.movieId);
    status.classList.remove("error");
    status.textContent = "Saving…";
    try {
      await api("POST", "/api/ratings", { userId: userId, movieId: movieId, rating: rating });
    } catch (err) {
      status.classList.add("error");
      status.textContent = "Could not save: " + err.message;
      return;
    }
    widget.dataset.current = String(rating);
    paint(widget, rating, "on");
    widget.querySelectorAll(".star").forEach((s) => {
      s.setAttribute("aria-checked", Number(s.dataset.value) === rating ? "true" : "false");
    });
    status.textContent = "";
    status.appendChild(document.createTextNode("Saved " + rating + "★. "));
    const recList = document.getElementById("rec-list");
    if (recList) {
      await refreshRecommendations(recList);
    } else {
      status.appendChild(el("a", { href: "/users/" + userId, text: "See your updated recommendations →" }));
    }
    document.dispatchEvent(new CustomEvent("sparrow:rated", { detail: { userId: userId, movieId: movieId } }));
  });

  // ---- recommendations on the user page (nearline: re-fetched right after a rating) --------------
  async function refreshRecommendations(recList) {
    const section = recList.closest("[data-user-id]");
    const userId = section.dataset.userId;
    const size = Math.max(recList.querySelectorAll(".rec-cell").length, 12);
    let recs;
    try {
      recs = await api("GET", "/api/users/" + userId + "/recommendations?size=" + size + "&explain=true");
    } catch (err) {
      return;
    }
    recList.replaceChildren(...recs.items.map((item) => recCell(item, recs)));
    const variant = document.querySelector("#rec-badges .variant-name");
    if (variant && recs.variant) variant.textContent = recs.variant;
    const model = document.querySelector("#rec-badges .model-name");
    if (model) model.textContent = recs.model;
    recList.classList.remove("updated");
    void recList.offsetWidth; // restart the highlight animation
    recList.classList.add("updated");
    recList.dataset.refreshed = String(Date.now());
  }

  // ---- clicks on recommended items are events for the A/B report ---------------------------------
  document.addEventListener("click", async (event) => {
    const link = event.target.closest("a.rec-link");
    if (!link) return;
    const userId = Number(link.dataset.userId || pickedUser() || 0);
    if (!userId) return;
    const body = {
      userId: userId, movieId: Number(link.dataset.movieId), type: "click",
      experiment: link.dataset.experiment || null, variant: link.dataset.variant || null,
    };
    const plain = event.button === 0 && !event.metaKey && !event.ctrlKey && !event.shiftKey && !event.altKey;
    if (!plain) {
      // a new tab opens; the beacon survives without blocking anything
      navigator.sendBeacon("/api/events", new Blob([JSON.stringify(body)], { type: "application/json" }));
      return;
    }
    event.preventDefault();
    // record the click before leaving, but never hold the visitor for more than a moment
    const timeout = new Promise((resolve) => setTimeout(resolve, 800));
    await Promise.race([api("POST", "/api/events", body).catch(() => null), timeout]);
    window.location.assign(link.href);
  });

  // ---- similar movies: switch the embedding model without reloading ------------------------------
  document.addEventListener("click", async (event) => {
    const tab = event.target.closest(".model-switch .tab");
    if (!tab || event.button !== 0 || event.metaKey || event.ctrlKey) return;
    event.preventDefault();
    const section = tab.closest(".similar");
    const grid = section.querySelector("#similar-list");
    const model = tab.dataset.model;
    section.querySelectorAll(".tab").forEach((t) => {
      t.classList.toggle("active", t === tab);
      t.setAttribute("aria-selected", t === tab ? "true" : "false");
    });
    grid.classList.add("loading");
    try {
      const data = await api("GET", "/api/movies/" + section.dataset.movieId + "/similar?model=" +
        encodeURIComponent(model) + "&size=12");
      grid.replaceChildren(...(data.items.length
        ? data.items.map(movieCard)
        : [el("p", { class: "empty", text: "No similar movies for this model." })]));
    } catch (err) {
      grid.replaceChildren(el("p", { class: "empty", text: err.message }));
    }
    grid.dataset.model = model;
    grid.classList.remove("loading");
    const note = section.querySelector(".similar-note");
    if (note) {
      note.replaceChildren(
        document.createTextNode("Nearest neighbours by "), el("b", { class: "similar-model", text: model }),
        document.createTextNode(model === "genre" ? " (shared genres)." : " embeddings."));
    }
    const url = new URL(window.location.href);
    url.searchParams.set("model", model);
    history.replaceState(null, "", url.pathname + url.search + "#similar");
  });
})();
