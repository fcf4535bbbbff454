// The /annotate/<project> page of a box project: one task at a time, of three kinds (Su, Deng
// and Fei-Fei 2012): draw one box around an instance not boxed yet, verify one box's quality,
// or verify that every instance of the synset is boxed.
//
// Drawing: drag with the mouse from one corner to the other; or with the keyboard, move the
// crosshair with the arrows (Shift: 10 px) and press Space at each corner. `x` switches to
// extreme clicking (Papadopoulos et al. 2017): the four extreme points of the object (left,
// top, right, bottom, in any order), by click or Space. `+` and `-` zoom (the stage scrolls);
// Backspace starts the box again; Enter sends it; `n` says no unboxed instance is left.
// Verifying: `y` or `n` (or the buttons).
//
// Boxes travel in the API's convention: 0-based inclusive pixels of the image as stored. The
// picture shown is the server's thumbnail with its EXIF orientation applied, so points are
// mapped back through that orientation (toStored) and boxes forward (toShown).
// Talks to /api/annotate/* with the session cookie and the CSRF token in a header (api.js).
"use strict";

(() => {
  const root = document.getElementById("annotate");
  if (!root) return;
  const project = encodeURIComponent(root.dataset.project);
  const { ApiError, el } = window.synsetlab;
  const api = window.synsetlab.client(root);
  const stage = document.getElementById("annotate-task");
  const statusLine = document.getElementById("annotate-status");
  const progress = document.getElementById("annotate-progress");
  const buttons = document.getElementById("box-buttons");
  const keysHelp = document.getElementById("box-keys");
  const ZOOMS = [1, 1.5, 2, 3, 4];
  const SHOWN = 480; // px on the longer side of a picture at zoom 1, at least
  const COLOURS = { accepted: "#2e8b57", asked: "#d9480f", drawing: "#1c64f2", cursor: "#111" };

  const state = { view: null, answered: 0, stopped: false, busy: false };

  function say(text, kind = "info") {
    statusLine.textContent = text;
    statusLine.className = `annotate-status ${kind}`;
  }

  function showProgress() {
    progress.textContent = `${state.answered} task${state.answered === 1 ? "" : "s"} answered`;
  }

  // --- geometry: stored pixels <-> the shown (EXIF-oriented) picture -----------------------

  // A point of the shown picture (continuous pixels of the oriented image) as a point of the
  // stored image; `w`, `h` are the stored image's size. EXIF orientations 1-8, inverted.
  function toStored(u, v, o, w, h) {
    switch (o) {
      case 2: return [w - u, v];
      case 3: return [w - u, h - v];
      case 4: return [u, h - v];
      case 5: return [v, u];
      case 6: return [v, h - u];
      case 7: return [w - v, h - u];
      case 8: return [w - v, u];
      default: return [u, v];
    }
  }

  function toShown(x, y, o, w, h) {
    switch (o) {
      case 2: return [w - x, y];
      case 3: return [w - x, h - y];
      case 4: return [x, h - y];
      case 5: return [y, x];
      case 6: return [h - y, x];
      case 7: return [h - y, w - x];
      case 8: return [y, w - x];
      default: return [x, y];
    }
  }

  // Two corners (continuous stored pixels) as an inclusive pixel box inside the image, or
  // null when it covers no whole pixel.
  function pixelBox(a, b, w, h) {
    const clamp = (value, high) => Math.max(0, Math.min(value, high));
    const box = [
      clamp(Math.floor(Math.min(a[0], b[0])), w - 1), clamp(Math.floor(Math.min(a[1], b[1])), h - 1),
      clamp(Math.ceil(Math.max(a[0], b[0])) - 1, w - 1), clamp(Math.ceil(Math.max(a[1], b[1])) - 1, h - 1),
    ];
    return box[2] > box[0] && box[3] > box[1] ? box : null;
  }

  // --- one task on the stage ---------------------------------------------------------------

  function build(task) {
    const image = new Image();
    image.alt = `the picture to ${task.kind === "draw" ? "box" : "check"}`;
    const canvas = el("canvas", { class: "box-canvas", tabindex: "0", "aria-label": "the picture; drag to draw a box" });
    const [name, ...others] = task.lemmas;
    const orientation = task.image.orientation || 1;
    const turned = orientation >= 5;
    const view = {
      task, image, canvas, name, orientation,
      width: task.image.width, height: task.image.height, // stored pixels
      shownW: turned ? task.image.height : task.image.width,
      shownH: turned ? task.image.width : task.image.height,
      zoom: 1, scale: 1, // canvas px per shown pixel at zoom 1
      mode: "corners", points: [], drag: null, cursor: null, shownAt: 0,
    };
    const heading = {
      draw: ["Draw a box around one ", el("b", {}, name), " that has no box yet"],
      quality: ["Is the orange box tight around one ", el("b", {}, name), "?"],
      coverage: ["Is every ", el("b", {}, name), " in the picture inside a green box?"],
    }[task.kind];
    view.node = el("article", { class: "annotate-page box-task", "data-task-id": task.id, "data-kind": task.kind },
      el("header", { class: "annotate-head" }, el("div", { class: "annotate-question" },
        el("h2", {}, heading),
        task.gloss ? el("p", { class: "gloss" }, task.gloss) : null,
        others.length ? el("p", { class: "note" }, `also called: ${others.join(", ")}`) : null,
        task.kind === "draw" && task.boxes.length
          ? el("p", { class: "note" }, `${task.boxes.length} already boxed (green): draw another one.`) : null)),
      el("div", { class: "box-stage" }, canvas));
    canvas.addEventListener("mousedown", (event) => pointerDown(view, event));
    canvas.addEventListener("mousemove", (event) => pointerMove(view, event));
    canvas.addEventListener("wheel", (event) => {
      if (!event.ctrlKey && !event.metaKey) return; // plain wheel scrolls the stage
      event.preventDefault();
      zoom(view, event.deltaY < 0 ? 1 : -1);
    }, { passive: false });
    return new Promise((resolve, reject) => {
      image.onload = () => {
        // Small pictures are shown larger (SHOWN px on the longer side) so that a box can be
        // drawn to the pixel; larger ones at the thumbnail's size.
        view.scale = Math.max(image.naturalWidth / view.shownW, SHOWN / Math.max(view.shownW, view.shownH));
        resolve(view);
      };
      image.onerror = () => reject(new Error(`the picture of task ${task.id} did not load`));
      image.src = task.image.url;
    });
  }

  // Canvas pixels of the view's current zoom per stored-shown pixel.
  const factor = (view) => view.scale * view.zoom;

  function eventPoint(view, event) {
    const rect = view.canvas.getBoundingClientRect();
    const f = factor(view) * (rect.width / view.canvas.width || 1);
    return [(event.clientX - rect.left) / f, (event.clientY - rect.top) / f]; // shown pixels
  }

  function draw(view) {
    const { canvas, image, task } = view;
    const f = factor(view);
    canvas.width = Math.round(view.shownW * f);
    canvas.height = Math.round(view.shownH * f);
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = f < 2; // enlarged: show the pixels a box snaps to
    ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
    const outline = (box, colour, width) => {
      // an inclusive stored box -> its corners on the canvas
      const a = toShown(box[0], box[1], view.orientation, view.width, view.height);
      const b = toShown(box[2] + 1, box[3] + 1, view.orientation, view.width, view.height);
      const x = Math.min(a[0], b[0]) * f, y = Math.min(a[1], b[1]) * f;
      const w = Math.abs(a[0] - b[0]) * f, h = Math.abs(a[1] - b[1]) * f;
      // A white halo under the colour: a box stays visible on any picture.
      ctx.strokeStyle = "rgba(255, 255, 255, 0.9)";
      ctx.lineWidth = width + 2;
      ctx.strokeRect(x, y, w, h);
      ctx.strokeStyle = colour;
      ctx.lineWidth = width;
      ctx.strokeRect(x, y, w, h);
    };
    for (const box of task.boxes) outline(box, COLOURS.accepted, 3);
    if (task.drawing) outline(task.drawing.box, COLOURS.asked, 3);
    const current = chosenBox(view);
    if (current) outline(current, COLOURS.drawing, 2);
    else if (view.drag) { // a box being dragged, not yet a whole pixel
      ctx.strokeStyle = COLOURS.drawing;
      ctx.strokeRect(view.drag[0] * f, view.drag[1] * f, 1, 1);
    }
    ctx.fillStyle = COLOURS.drawing;
    for (const [u, v] of view.points) {
      ctx.beginPath();
      ctx.arc(u * f, v * f, 4, 0, 2 * Math.PI);
      ctx.fill();
    }
    if (view.cursor && task.kind === "draw") {
      const [u, v] = view.cursor;
      ctx.strokeStyle = COLOURS.cursor;
      ctx.lineWidth = 1;
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      ctx.moveTo(u * f, 0); ctx.lineTo(u * f, canvas.height);
      ctx.moveTo(0, v * f); ctx.lineTo(canvas.width, v * f);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    root.dataset.box = current ? current.join(",") : "";
  }

  // The box the points or the drag give so far (inclusive stored pixels), or null.
  function chosenBox(view) {
    const stored = (p) => toStored(p[0], p[1], view.orientation, view.width, view.height);
    let corners = null;
    if (view.mode === "corners" && view.points.length === 2) corners = view.points;
    else if (view.mode === "corners" && view.drag && view.dragTo) corners = [view.drag, view.dragTo];
    else if (view.mode === "extreme" && view.points.length === 4) {
      const us = view.points.map((p) => p[0]), vs = view.points.map((p) => p[1]);
      corners = [[Math.min(...us), Math.min(...vs)], [Math.max(...us), Math.max(...vs)]];
    }
    return corners ? pixelBox(stored(corners[0]), stored(corners[1]), view.width, view.height) : null;
  }

  function pointerDown(view, event) {
    if (state.view !== view || view.task.kind !== "draw" || event.button !== 0) return;
    event.preventDefault();
    view.canvas.focus();
    const p = eventPoint(view, event);
    view.cursor = p;
    if (view.mode === "extreme") {
      if (view.points.length === 4) view.points = [];
      view.points.push(p);
    } else {
      view.points = [];
      view.drag = p;
      view.dragTo = null;
    }
    draw(view);
  }

  function pointerMove(view, event) {
    if (state.view !== view || !view.drag) return;
    view.dragTo = eventPoint(view, event);
    draw(view);
  }

  function pointerUp(view, event) {
    if (!view.drag) return;
    const end = eventPoint(view, event);
    view.points = [view.drag, end];
    view.drag = view.dragTo = null;
    draw(view);
  }

  // Space at the crosshair: one corner, or one extreme point.
  function mark(view) {
    if (!view.cursor) view.cursor = [view.shownW / 2, view.shownH / 2];
    const full = view.mode === "extreme" ? 4 : 2;
    if (view.points.length >= full) view.points = [];
    view.points.push([...view.cursor]);
    draw(view);
  }

  function moveCursor(view, du, dv) {
    const [u, v] = view.cursor || [view.shownW / 2, view.shownH / 2];
    view.cursor = [Math.max(0, Math.min(view.shownW, u + du)), Math.max(0, Math.min(view.shownH, v + dv))];
    draw(view);
    follow(view);
  }

  // Scroll a zoomed stage so that the crosshair stays in sight.
  function follow(view) {
    if (!view.cursor) return;
    const pane = view.node.querySelector(".box-stage");
    const f = factor(view), margin = 40;
    const [x, y] = [view.cursor[0] * f, view.cursor[1] * f];
    if (x < pane.scrollLeft + margin) pane.scrollLeft = x - margin;
    else if (x > pane.scrollLeft + pane.clientWidth - margin) pane.scrollLeft = x - pane.clientWidth + margin;
    if (y < pane.scrollTop + margin) pane.scrollTop = y - margin;
    else if (y > pane.scrollTop + pane.clientHeight - margin) pane.scrollTop = y - pane.clientHeight + margin;
  }

  function zoom(view, step) {
    const i = Math.max(0, Math.min(ZOOMS.indexOf(view.zoom) + step, ZOOMS.length - 1));
    view.zoom = ZOOMS[i];
    root.dataset.zoom = String(view.zoom);
    draw(view);
    follow(view);
  }

  function setMode(view, mode) {
    view.mode = mode;
    view.points = [];
    keys(view);
    draw(view);
  }

  // --- answering ---------------------------------------------------------------------------

  async function send(answer) {
    const view = state.view;
    if (!view || state.busy || state.stopped) return;
    state.busy = true;
    const seconds = (performance.now() - view.shownAt) / 1000;
    try {
      const done = await api("PUT", `/api/annotate/box-tasks/${view.task.id}`, { answer, seconds });
      state.answered += 1;
      showProgress();
      if (done.stopped) {
        stop("You were stopped in this project: too many of your answers to check questions were wrong, so your answers no longer count. Thank you for your time.");
        return;
      }
      say("");
      await next();
    } catch (error) {
      if (error instanceof ApiError && error.status === 403) stop(error.message);
      else say(`Not stored: ${error.message}`, "error");
    } finally {
      state.busy = false;
    }
  }

  function sendBox(view) {
    const box = chosenBox(view);
    if (!box) {
      say(view.mode === "extreme" ? "Click the four extreme points of the object first." : "Drag a box around the object first.", "warn");
      return;
    }
    if (view.mode === "extreme") {
      const points = view.points.map((p) => toStored(p[0], p[1], view.orientation, view.width, view.height)
        .map((c, k) => Math.max(0, Math.min(Math.floor(c), (k ? view.height : view.width) - 1))));
      send({ extreme: points, wnid: view.task.wnid });
    } else {
      send({ box, wnid: view.task.wnid });
    }
  }

  function verdict(view, yes) {
    if (view.task.kind === "quality") send({ drawing_id: view.task.drawing.id, answer: yes });
    else if (view.task.kind === "coverage") send({ item_id: view.task.item_id, answer: yes });
  }

  function keys(view) {
    const b = (label, action) => {
      const button = el("button", { type: "button" }, label);
      button.addEventListener("click", () => { button.blur(); action(); });
      return button;
    };
    if (view.task.kind === "draw") {
      buttons.replaceChildren(
        b(["Enter", " send the box"].map((t, i) => (i ? t : el("kbd", {}, t))), () => sendBox(view)),
        b([el("kbd", {}, "n"), " none left to box"], () => send({ box: null, wnid: view.task.wnid })),
        b([el("kbd", {}, "x"), view.mode === "extreme" ? " drag corners instead" : " extreme clicking"],
          () => setMode(view, view.mode === "extreme" ? "corners" : "extreme")));
      keysHelp.replaceChildren(view.mode === "extreme"
        ? "Click the leftmost, topmost, rightmost and bottommost points of the object (any order)"
        : "Drag from one corner to the other",
      " · or ", el("kbd", {}, "←↑→↓"), " move (", el("kbd", {}, "Shift"), " ×10), ", el("kbd", {}, "Space"), " marks a point · ",
      el("kbd", {}, "+"), el("kbd", {}, "−"), " zoom · ", el("kbd", {}, "Backspace"), " start again");
    } else {
      buttons.replaceChildren(b([el("kbd", {}, "y"), " yes"], () => verdict(view, true)),
        b([el("kbd", {}, "n"), " no"], () => verdict(view, false)));
      keysHelp.replaceChildren(el("kbd", {}, "+"), el("kbd", {}, "−"), " zoom");
    }
  }

  function show(view) {
    state.view = view;
    stage.replaceChildren(view.node);
    root.dataset.taskId = String(view.task.id);
    root.dataset.kind = view.task.kind;
    // What the answer names (the image, the box asked about): for tests and scripts.
    root.dataset.itemId = String(view.task.item_id);
    if (view.task.drawing) root.dataset.drawingId = String(view.task.drawing.id);
    else delete root.dataset.drawingId;
    root.dataset.zoom = "1";
    view.shownAt = performance.now();
    keys(view);
    draw(view);
    view.canvas.focus({ preventScroll: true });
  }

  function finish(message, kind = "done") {
    state.view = null;
    delete root.dataset.taskId;
    delete root.dataset.itemId;
    delete root.dataset.drawingId;
    root.dataset.state = kind;
    buttons.replaceChildren();
    keysHelp.replaceChildren();
    stage.replaceChildren(el("p", { class: `annotate-empty ${kind}` }, message),
      el("p", {}, el("a", { href: "/annotate" }, "Your projects")));
  }

  function stop(message) {
    state.stopped = true;
    finish(message, "stopped");
  }

  async function next() {
    stage.classList.add("waiting");
    try {
      const data = await api("GET", `/api/annotate/projects/${project}/boxes/next`);
      if (!data.task) finish(data.message);
      else show(await build(data.task));
    } catch (error) {
      if (error instanceof ApiError && error.status === 403) stop(error.message);
      else finish(`${error.message} Reload the page to try again.`, "error");
    } finally {
      stage.classList.remove("waiting");
    }
  }

  // One listener for the whole page: a drag may end outside the canvas.
  window.addEventListener("mouseup", (event) => {
    if (state.view) pointerUp(state.view, event);
  });

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    const target = event.target;
    if (target instanceof HTMLElement && target.closest("input, select, textarea, [contenteditable], a, button")) return;
    const view = state.view;
    if (!view) return;
    const key = event.key;
    const step = event.shiftKey ? 10 : 1;
    const drawing = view.task.kind === "draw";
    let handled = true;
    if (key === "+" || key === "=") zoom(view, 1);
    else if (key === "-" || key === "_") zoom(view, -1);
    else if (drawing && key === "Enter") sendBox(view);
    else if (drawing && key === "n") send({ box: null, wnid: view.task.wnid });
    else if (drawing && key === "x") setMode(view, view.mode === "extreme" ? "corners" : "extreme");
    else if (drawing && (key === " " || key === "Spacebar")) mark(view);
    else if (drawing && key === "Backspace") { view.points = []; draw(view); }
    else if (drawing && key === "ArrowLeft") moveCursor(view, -step, 0);
    else if (drawing && key === "ArrowRight") moveCursor(view, step, 0);
    else if (drawing && key === "ArrowUp") moveCursor(view, 0, -step);
    else if (drawing && key === "ArrowDown") moveCursor(view, 0, step);
    else if (!drawing && (key === "y" || key === "n")) verdict(view, key === "y");
    else handled = false;
    if (handled) event.preventDefault();
  });

  async function start() {
    try {
      const mine = await api("GET", `/api/annotate/projects/${project}/progress`);
      state.answered = mine.pages;
    } catch (error) {
      state.answered = 0; // progress is a nicety: the tasks still load
    }
    showProgress();
    await next();
  }

  start();
})();
