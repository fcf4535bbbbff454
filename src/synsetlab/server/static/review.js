// The /review page: curation findings one at a time, decided with the keyboard.
// k keep, x exclude, r relabel to the suggested class (Shift+R: a hidden test image too),
// c ask the crowd about a label issue (in the project chosen at the top),
// u undo your latest decision, j / right / down next, left / up previous.
// Talks to /api/review/* with the session cookie and the CSRF token in a header (api.js).
"use strict";

(() => {
  const root = document.getElementById("review");
  if (!root) return;
  const { el } = window.synsetlab;
  const api = window.synsetlab.client(root);
  const box = document.getElementById("review-item");
  const statusLine = document.getElementById("review-status");
  const progress = document.getElementById("review-progress");
  const kindSelect = document.getElementById("review-kind");
  const crowdSelect = document.getElementById("review-crowd-project");
  const SIZE = { big: 384, card: 192, example: 112 };

  const state = {
    kind: root.dataset.kind || "",
    queue: [], // {finding_id, ...} not decided yet, in review order
    index: 0,
    total: 0,
    pending: {},
    views: new Map(), // finding id -> {item, node}: the shown one and the next, prefetched
    item: null,
    busy: false,
  };

  // --- talking to the server ---------------------------------------------------------------

  function say(text, kind = "info") {
    statusLine.textContent = text;
    statusLine.className = `review-status ${kind}`;
  }

  // --- building the view -------------------------------------------------------------------

  const thumb = (image, size) =>
    el("img", {
      class: `thumb s${size}`,
      src: `/thumbs/${image.sha256}?size=${size}`,
      alt: image.source_key,
      width: size,
      height: size,
      loading: "eager",
    });

  const className = (cls) => `${cls.name} (${cls.wnid})`;
  const num = (value) =>
    typeof value === "number" ? (Number.isInteger(value) ? String(value) : value.toPrecision(3)) : String(value);

  function imageFacts(image) {
    const labels = image.labels.map((l) =>
      el("span", { class: `tag label ${l.state}`, title: `${l.wnid}, ${l.state}` }, l.name),
    );
    const split = image.split
      ? el("span", { class: `tag split${image.hidden_test ? " hidden" : ""}` },
          image.hidden_test ? `${image.split} (hidden)` : image.split)
      : el("span", { class: "tag split" }, "no split");
    const states = [];
    if (image.excluded) states.push(el("span", { class: "tag excluded" }, "excluded"));
    if (image.relabelled_to) states.push(el("span", { class: "tag relabelled" }, `relabelled to ${image.relabelled_to}`));
    return el("figcaption", {},
      el("div", { class: "key", title: image.source_key }, image.source_key),
      el("div", { class: "facts" }, split, ` ${image.width}×${image.height} · ${(image.size_bytes / 1024).toFixed(1)} KiB`),
      el("div", { class: "labels" }, labels, states));
  }

  function card(image, size, current = false) {
    return el("figure", { class: `card${current ? " current" : ""}${image.excluded ? " gone" : ""}`, "data-image-id": image.image_id },
      thumb(image, size), imageFacts(image));
  }

  function classColumn(title, cls, cssClass) {
    const examples = cls.examples.length
      ? el("div", { class: "examples" }, cls.examples.map((image) =>
          el("figure", { class: "example", title: image.source_key }, thumb(image, SIZE.example))))
      : el("p", { class: "note" }, "No other image of this class to show.");
    return el("div", { class: `class-col ${cssClass}` },
      el("h3", {}, `${title}: `, el("b", {}, cls.name), " ", el("code", {}, cls.wnid)),
      cls.gloss ? el("p", { class: "gloss" }, cls.gloss) : null,
      examples);
  }

  // The name of a class a label issue weighs (else its wnid).
  function nameIn(item, wnid) {
    for (const cls of [item.given, item.suggested]) if (cls && cls.wnid === wnid) return cls.name;
    return wnid;
  }

  // What the crowd says of the image, per question (none asked: nothing shown).
  function crowdAnswers(item) {
    if (!item.crowd || !item.crowd.length) return null;
    return el("div", { class: "crowd" },
      el("h3", {}, "The crowd"),
      el("ul", {}, item.crowd.map((q) => el("li", { "data-status": q.status },
        el("b", {}, nameIn(item, q.wnid)), ` in ${q.project}: `,
        q.gold === null ? q.status : `gold question (known: ${q.gold ? "yes" : "no"})`,
        ` · ${q.yes} yes, ${q.no} no`,
        typeof q.posterior === "number" ? ` · P(yes) ${num(q.posterior)}` : ""))));
  }

  function decisionTag(d) {
    const who = d.author || "nobody recorded";
    return el("span", { class: "tag decided" }, d.crowd ? `sent to the crowd by ${who}` : `${d.action} by ${who}`);
  }

  function detailTable(detail, open = false) {
    const rows = Object.entries(detail).map(([key, value]) =>
      el("tr", {}, el("th", {}, key), el("td", {}, typeof value === "object" ? JSON.stringify(value) : num(value))));
    return el("details", { class: "review-detail", open }, el("summary", {}, "all the finding's facts"), el("table", {}, rows));
  }

  function render(item) {
    const head = el("div", { class: "review-head" },
      el("span", { class: "tag kind" }, item.kind),
      item.score === null ? "" : ` score ${num(item.score)}`,
      ` · finding ${item.finding_id} · image ${item.image.image_id}`,
      item.decision ? decisionTag(item.decision) : null);
    let body;
    let facts = detailTable(item.detail);
    if (item.view === "cluster") {
      body = el("div", { class: "cluster" },
        el("p", { class: "note" }, `${item.cluster_size} copies in this cluster; the outlined one is this finding's. Keep or exclude it.`),
        el("div", { class: "cards" }, item.cluster.map((image) =>
          card(image, SIZE.card, image.image_id === item.image.image_id))));
    } else if (item.view === "label") {
      const d = item.detail;
      const odds = [
        item.lca ? `lowest common ancestor: ${className(item.lca)}` : null,
        typeof d.p_given === "number" ? `p(given) ${num(d.p_given)}` : null,
        typeof d.p_suggested === "number" ? `p(suggested) ${num(d.p_suggested)}` : null,
        d.hierarchy ? `relation: ${d.hierarchy}` : null,
      ].filter(Boolean).join(" · ");
      body = el("div", { class: "label-issue" },
        card(item.image, SIZE.big, true),
        el("div", { class: "classes" },
          classColumn("given", item.given, "given"),
          classColumn("suggested", item.suggested, "suggested"),
          el("p", { class: "note" }, odds),
          crowdAnswers(item)));
    } else if (item.view === "quality") {
      const measured = item.value === null || item.value === undefined
        ? el("p", {}, "Not measured.")
        : el("p", {}, "measured ", el("b", {}, num(item.value)), ", threshold ", el("b", {}, num(item.threshold)));
      body = el("div", { class: "single" }, card(item.image, SIZE.big, true),
        el("div", { class: "measure" }, el("h3", {}, item.kind), measured, detailTable(item.detail, true)));
      facts = null;
    } else {
      body = el("div", { class: "single" }, card(item.image, SIZE.big, true),
        el("div", { class: "measure" }, el("h3", {}, item.kind), detailTable(item.detail, true)));
      facts = null;
    }
    return el("article", { class: `review-view view-${item.view}`, "data-finding-id": item.finding_id },
      head, body, facts);
  }

  // --- the queue ----------------------------------------------------------------------------

  async function view(findingId) {
    let entry = state.views.get(findingId);
    if (!entry) {
      const item = await api("GET", `/api/review/items/${findingId}`);
      entry = { item, node: render(item) }; // its <img>s start loading now, even unattached
      state.views.set(findingId, entry);
    }
    return entry;
  }

  function showProgress() {
    const all = Object.values(state.pending).reduce((a, b) => a + b, 0);
    const total = state.kind ? state.pending[state.kind] || 0 : all;
    progress.textContent = state.queue.length
      ? `${state.index + 1} of ${total} pending${state.kind ? ` ${state.kind}` : ""}`
      : "";
    progress.dataset.pending = String(total);
    for (const option of kindSelect.options) {
      const n = option.value ? state.pending[option.value] || 0 : all;
      option.textContent = `${option.value || "all kinds"} (${n})`;
    }
  }

  async function show() {
    showProgress();
    if (!state.queue.length) {
      state.item = null;
      box.replaceChildren(el("p", { class: "review-empty" },
        state.kind ? `No ${state.kind} finding left to review.` : "Nothing left to review: every finding about an image has a decision."));
      return;
    }
    state.index = Math.max(0, Math.min(state.index, state.queue.length - 1));
    const findingId = state.queue[state.index].finding_id;
    try {
      const { item, node } = await view(findingId);
      if (state.queue[state.index]?.finding_id !== findingId) return; // moved on meanwhile
      state.item = item;
      box.replaceChildren(node);
      root.dataset.findingId = String(findingId);
    } catch (error) {
      say(`Finding ${findingId}: ${error.message}`, "error");
      return;
    }
    // The next one is fetched and its thumbnails loaded while this one is looked at.
    for (const [id] of state.views) {
      if (id !== findingId) state.views.delete(id);
    }
    const next = state.queue[state.index + 1];
    if (next) view(next.finding_id).catch(() => {});
  }

  async function load() {
    const query = new URLSearchParams({ limit: "1000" });
    if (state.kind) query.set("kind", state.kind);
    const data = await api("GET", `/api/review/queue?${query}`);
    state.queue = data.items;
    state.pending = data.pending;
    state.index = 0;
    state.views.clear();
    await show();
  }

  // --- acting -------------------------------------------------------------------------------

  async function act(run) {
    if (state.busy) return;
    state.busy = true;
    root.classList.add("busy");
    try {
      await run();
    } catch (error) {
      say(error.message, "error");
    } finally {
      state.busy = false;
      root.classList.remove("busy");
    }
  }

  const DONE = { keep: "Kept", exclude: "Excluded", relabel: "Relabelled" };

  function decide(action, allowHiddenTest = false) {
    const item = state.item;
    if (!item) return;
    act(async () => {
      const body = { action };
      if (allowHiddenTest) body.allow_hidden_test = true;
      try {
        const data = await api("POST", `/api/review/items/${item.finding_id}/decision`, body);
        state.pending = data.pending;
        state.queue.splice(state.index, 1);
        state.views.clear(); // other views may show this image: fetch them again
        const to = data.decision.wnid ? ` to ${data.decision.wnid}` : "";
        say(`${DONE[action]} image ${item.image.image_id}${to} (finding ${item.finding_id}); u undoes it.`, "done");
        await show();
      } catch (error) {
        if (error.status === 409 && action === "relabel" && item.image.hidden_test) {
          error.message += " Press Shift+R to relabel it anyway.";
        }
        throw error;
      }
    });
  }

  // c: the image of a label issue asked of the crowd, against its given and its suggested
  // class, in the project chosen at the top; the finding leaves the queue as decided.
  function askCrowd() {
    const item = state.item;
    if (!item) return;
    if (item.view !== "label") {
      say("Only a label issue with a suggested class goes to the crowd: keep, exclude or relabel this one.", "error");
      return;
    }
    const project = crowdSelect.value; // empty while the list loads: the server's default
    act(async () => {
      const data = await api("POST", `/api/review/items/${item.finding_id}/crowd`, project ? { project } : {});
      const asked = data.asked;
      state.pending = data.pending;
      if (asked.created) fillProjects([...crowdProjects(), asked.project], asked.project);
      const added = asked.added.map((q) => nameIn(item, q.wnid));
      const skipped = asked.skipped.map((x) => `${nameIn(item, x.wnid)}: ${x.reason}`);
      state.views.clear(); // this view's crowd answers changed; others may show the image
      if (data.decision) {
        state.queue.splice(state.index, 1);
        const what = added.length ? `asked whether it shows ${added.join(", and whether it shows ")}` : "nothing new asked";
        say(`Sent image ${item.image.image_id} to the crowd in ${asked.project}${asked.created ? " (a new project)" : ""}: ` +
            `${what}${skipped.length ? `; ${skipped.join("; ")}` : ""}. u undoes it.`, "done");
      } else {
        say(`Not sent: ${skipped.join("; ")}. Decide it yourself.`, "info");
      }
      await show();
    });
  }

  function crowdProjects() {
    return [...crowdSelect.options].filter((o) => !o.dataset.fresh).map((o) => o.value);
  }

  // The projects to ask in; the default one is listed even before it exists (made on first use).
  function fillProjects(projects, chosen) {
    const named = new Set(projects);
    const options = projects.map((slug) => el("option", { value: slug }, slug));
    if (!named.has(crowdSelect.dataset.default)) {
      options.unshift(el("option", { value: crowdSelect.dataset.default, "data-fresh": true },
        `${crowdSelect.dataset.default} (new)`));
    }
    crowdSelect.replaceChildren(...options);
    crowdSelect.value = chosen;
  }

  async function loadProjects() {
    const data = await api("GET", "/api/review/crowd");
    crowdSelect.dataset.default = data.default;
    fillProjects(data.projects, crowdSelect.value || data.default);
  }

  function undo() {
    act(async () => {
      const data = await api("POST", "/api/review/undo", {});
      const d = data.undone;
      state.pending = data.pending;
      state.views.clear();
      const of = `image ${d.image_id}${d.finding_id ? ` (finding ${d.finding_id})` : ""}`;
      say(d.crowd
        ? `Undid sending ${of} to the crowd; its questions stay in the project.`
        : `Undid the ${d.action} of ${of}.`, "done");
      if (d.finding_id !== null && !state.queue.some((e) => e.finding_id === d.finding_id)) {
        state.queue.splice(state.index, 0, { finding_id: d.finding_id, image_id: d.image_id });
      }
      const at = state.queue.findIndex((e) => e.finding_id === d.finding_id);
      if (at >= 0) state.index = at;
      await show();
    });
  }

  function move(step) {
    if (!state.queue.length) return;
    const to = state.index + step;
    if (to < 0 || to >= state.queue.length) {
      say(to < 0 ? "This is the first finding." : "This is the last finding loaded.", "info");
      return;
    }
    state.index = to;
    say("");
    show();
  }

  // --- keys and buttons ---------------------------------------------------------------------

  const KEYS = {
    k: () => decide("keep"),
    x: () => decide("exclude"),
    r: () => decide("relabel"),
    R: () => decide("relabel", true),
    c: () => askCrowd(),
    u: () => undo(),
    j: () => move(1),
    ArrowRight: () => move(1),
    ArrowDown: () => move(1),
    ArrowLeft: () => move(-1),
    ArrowUp: () => move(-1),
  };

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    const target = event.target;
    if (target instanceof HTMLElement && target.closest("input, select, textarea, [contenteditable]")) return;
    const handler = KEYS[event.key];
    if (!handler) return;
    event.preventDefault();
    handler();
  });

  const BUTTONS = {
    keep: () => decide("keep"),
    exclude: () => decide("exclude"),
    relabel: (event) => decide("relabel", event.shiftKey),
    crowd: () => askCrowd(),
    undo: () => undo(),
    next: () => move(1),
    prev: () => move(-1),
  };
  for (const button of root.querySelectorAll("button[data-action]")) {
    button.addEventListener("click", (event) => {
      BUTTONS[button.dataset.action](event);
      button.blur(); // keys go to the page again, not to the button
    });
  }

  kindSelect.addEventListener("change", () => {
    state.kind = kindSelect.value;
    const url = new URL(window.location.href);
    if (state.kind) url.searchParams.set("kind", state.kind);
    else url.searchParams.delete("kind");
    window.history.replaceState(null, "", url);
    kindSelect.blur();
    say("");
    act(load);
  });

  crowdSelect.addEventListener("change", () => crowdSelect.blur());

  loadProjects().catch((error) => say(`Annotation projects: ${error.message}`, "error"));
  act(load);
})();
