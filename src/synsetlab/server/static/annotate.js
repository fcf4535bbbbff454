// The /annotate/<project> page: one synset a page, a grid of pictures, answered with the keys.
// 1-9 and 0 (the 10th) select or unselect a picture; arrows move the cursor and Space selects;
// Enter submits. The next page is fetched ahead while this one is answered, so that it shows
// at once on Enter; the answers go to the server behind it (a PUT, idempotent: retried when
// the network fails) with the seconds spent on the page.
// Talks to /api/annotate/* with the session cookie and the CSRF token in a header (api.js).
"use strict";

(() => {
  const root = document.getElementById("annotate");
  if (!root) return;
  const project = encodeURIComponent(root.dataset.project);
  const { ApiError, el } = window.synsetlab;
  const api = window.synsetlab.client(root);
  const box = document.getElementById("annotate-task");
  const statusLine = document.getElementById("annotate-status");
  const progress = document.getElementById("annotate-progress");
  const submitButton = document.getElementById("annotate-submit");
  const KEYS = "1234567890"; // the picture each key toggles, in page order
  const RETRIES = [500, 1500, 4000]; // ms before each new try of a submit the network lost

  const state = {
    current: null, // the view answered now: {task, node, tiles, selected, cursor, shownAt}
    ahead: null, // a promise of the next view, {done: message} or {error}
    sending: Promise.resolve(), // submits go one after the other, in page order
    answered: 0, // pages answered before (from the server), then counted here
    stopped: false,
  };

  // --- talking to the server ---------------------------------------------------------------

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const retryable = (error) => !(error instanceof ApiError) || error.status >= 500 || error.status === 429;

  // A submit is idempotent per page: sending it again after a lost answer stores nothing twice.
  async function put(path, body) {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await api("PUT", path, body);
      } catch (error) {
        if (!retryable(error) || attempt >= RETRIES.length) throw error;
        say(`The server did not answer (${error.message}); trying again…`, "info");
        await sleep(RETRIES[attempt]);
      }
    }
  }

  function say(text, kind = "info") {
    statusLine.textContent = text;
    statusLine.className = `annotate-status ${kind}`;
  }

  function showProgress() {
    progress.textContent = `${state.answered} page${state.answered === 1 ? "" : "s"} answered`;
  }

  // --- building a page ---------------------------------------------------------------------

  function build(task) {
    const [name, ...others] = task.lemmas;
    const question = el("div", { class: "annotate-question" },
      el("h2", {}, "Select every image that shows a ", el("b", {}, name), task.gloss ? ":" : ""),
      task.gloss ? el("p", { class: "gloss" }, task.gloss) : null,
      others.length ? el("p", { class: "note" }, `also called: ${others.join(", ")}`) : null);
    const examples = el("aside", { class: "annotate-examples", "aria-label": "verified examples" },
      el("span", { class: "note" }, task.examples.length ? "Examples" : "No example yet"),
      el("div", {}, task.examples.map((image) =>
        el("img", { src: image.thumb, alt: `an example of ${name}`, width: 112, height: 112, class: "thumb" }))));
    const tiles = task.images.map((image, i) =>
      el("figure", { class: "tile", role: "checkbox", "aria-checked": "false", "data-item-id": image.item_id },
        el("img", { src: image.thumb, alt: `picture ${i + 1}`, width: 192, height: 192, class: "thumb", loading: "eager" }),
        i < KEYS.length ? el("kbd", { class: "key" }, KEYS[i]) : null,
        el("span", { class: "mark", "aria-hidden": "true" }, "✓")));
    const node = el("article", { class: "annotate-page", "data-task-id": task.id },
      el("header", { class: "annotate-head" }, question, examples),
      el("div", { class: "annotate-grid" }, tiles));
    const view = { task, node, tiles, selected: new Set(), cursor: 0, shownAt: 0 };
    tiles.forEach((tile, i) => tile.addEventListener("click", () => {
      if (state.current !== view) return;
      view.cursor = i;
      toggle(i);
    }));
    return view;
  }

  async function fetchView(after) {
    const query = after ? `?after=${after}` : "";
    const data = await api("GET", `/api/annotate/projects/${project}/next${query}`);
    return data.task ? build(data.task) : { done: data.message };
  }

  const ahead = (after) => fetchView(after).catch((error) => ({ error }));

  // --- showing and answering ---------------------------------------------------------------

  function show(view) {
    state.current = view;
    box.replaceChildren(view.node);
    root.dataset.taskId = String(view.task.id);
    view.shownAt = performance.now();
    submitButton.disabled = false;
    moveCursor(0);
  }

  function finish(message, kind = "done") {
    state.current = null;
    delete root.dataset.taskId;
    root.dataset.state = kind;
    submitButton.disabled = true;
    box.replaceChildren(el("p", { class: `annotate-empty ${kind}` }, message),
      el("p", {}, el("a", { href: "/annotate" }, "Your projects")));
    say("");
  }

  function stop(message) {
    state.stopped = true;
    finish(message, "stopped");
  }

  function toggle(i) {
    const view = state.current;
    const tile = view?.tiles[i];
    if (!tile) return;
    const id = view.task.images[i].item_id;
    const on = !view.selected.has(id);
    if (on) view.selected.add(id);
    else view.selected.delete(id);
    tile.classList.toggle("selected", on);
    tile.setAttribute("aria-checked", String(on));
    moveCursor(i);
  }

  function moveCursor(i) {
    const view = state.current;
    if (!view || !view.tiles.length) return;
    view.cursor = Math.max(0, Math.min(i, view.tiles.length - 1));
    view.tiles.forEach((tile, j) => tile.classList.toggle("cursor", j === view.cursor));
  }

  // Pictures in one row of the grid as laid out now (it wraps with the window's width).
  function perRow(view) {
    const top = view.tiles[0].offsetTop;
    const n = view.tiles.filter((tile) => tile.offsetTop === top).length;
    return Math.max(n, 1);
  }

  function submit() {
    const view = state.current;
    if (!view || state.stopped) return;
    const seconds = (performance.now() - view.shownAt) / 1000;
    const answers = Object.fromEntries(view.task.images.map((image) => [image.item_id, view.selected.has(image.item_id)]));
    const next = state.ahead;
    state.ahead = null;
    state.current = null;
    const sent = (state.sending = state.sending.then(() => send(view.task.id, answers, seconds)));
    goOn(next, sent);
  }

  async function send(taskId, answers, seconds) {
    try {
      const data = await put(`/api/annotate/tasks/${taskId}`, { answers, seconds });
      state.answered += 1;
      showProgress();
      if (data.stopped) {
        stop("You were stopped in this project: too many of your answers to check questions were wrong, so your answers no longer count. Thank you for your time.");
      } else if (data.fast) {
        say(`${data.fast} answer${data.fast === 1 ? " was" : "s were"} faster than a person can look at a picture: take the time to look.`, "warn");
      } else {
        say("");
      }
    } catch (error) {
      if (error.status === 403) stop(error.message);
      else say(`Page ${taskId} was not stored: ${error.message}`, "error");
    }
  }

  async function goOn(next, sent) {
    box.classList.add("waiting");
    let view = next ? await next : null;
    if (view && !view.done && !view.error) {
      box.classList.remove("waiting");
      if (state.stopped) return;
      show(view);
      // The page after it is asked for once this answer is stored: before, the server would
      // hand back the page just answered (still open).
      state.ahead = sent.then(() => (state.stopped ? { done: "" } : ahead(view.task.id)));
      return;
    }
    // Nothing fetched ahead: ask again once the answer is stored, pages may have come free.
    await sent;
    box.classList.remove("waiting");
    if (state.stopped) return;
    view = await ahead(null);
    if (view.error) failed(view.error);
    else if (view.done) finish(view.done);
    else {
      show(view);
      state.ahead = ahead(view.task.id);
    }
  }

  function failed(error) {
    if (error.status === 403) stop(error.message);
    else finish(`${error.message} Reload the page to try again.`, "error");
  }

  async function start() {
    try {
      const mine = await api("GET", `/api/annotate/projects/${project}/progress`);
      state.answered = mine.pages;
      showProgress();
      const first = await fetchView(null);
      if (first.done) {
        finish(first.done);
        return;
      }
      show(first);
      state.ahead = ahead(first.task.id);
    } catch (error) {
      failed(error);
    }
  }

  // --- keys and buttons ---------------------------------------------------------------------

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    const target = event.target;
    // Keys typed into a form, or Enter on a link or button (log out), keep their own meaning.
    if (target instanceof HTMLElement && target.closest("input, select, textarea, [contenteditable], a, button")) return;
    const view = state.current;
    const key = event.key;
    let handled = true;
    if (KEYS.includes(key) && key.length === 1) {
      if (view) toggle(KEYS.indexOf(key));
    } else if (key === " " || key === "Spacebar") {
      if (view) toggle(view.cursor);
    } else if (key === "Enter") {
      submit();
    } else if (key === "ArrowRight" || key === "ArrowLeft") {
      if (view) moveCursor(view.cursor + (key === "ArrowRight" ? 1 : -1));
    } else if (key === "ArrowDown" || key === "ArrowUp") {
      if (view) moveCursor(view.cursor + (key === "ArrowDown" ? 1 : -1) * perRow(view));
    } else {
      handled = false;
    }
    if (handled) event.preventDefault();
  });

  submitButton.addEventListener("click", () => {
    submitButton.blur(); // keys go to the page again, not to the button
    submit();
  });

  start();
})();
