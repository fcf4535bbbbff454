// What the site's scripted pages share (review.js, annotate.js): calls to the JSON API with
// the session cookie and the page's CSRF token, and a small builder of DOM nodes.
// Loaded before them (both deferred, so in order): window.synsetlab = {ApiError, client, el}.
"use strict";

window.synsetlab = (() => {
  // A refusal of the API: `message` is the server's `detail`, `status` its HTTP status.
  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.name = "ApiError";
      this.status = status;
    }
  }

  // api(method, path, body) for the page whose root element carries the CSRF header's name
  // and the session's token (data-csrf-header, data-csrf-token): the JSON answer, or an
  // ApiError. Only requests that change something send the token (and a JSON body).
  function client(root) {
    const csrf = { header: root.dataset.csrfHeader, token: root.dataset.csrfToken };
    return async function api(method, path, body) {
      const options = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
      if (method !== "GET") {
        options.headers["Content-Type"] = "application/json";
        options.headers[csrf.header] = csrf.token;
        options.body = JSON.stringify(body || {});
      }
      const response = await fetch(path, options);
      const data = await response.json().catch(() => ({}));
      if (!response.ok) {
        // FastAPI says what failed validation as a list of {msg, ...}.
        const detail = Array.isArray(data.detail) ? data.detail.map((d) => d.msg).join("; ") : data.detail;
        throw new ApiError(detail || `${response.status} ${response.statusText}`, response.status);
      }
      return data;
    };
  }

  // el("p", {class: "note"}, "text", child, [more]): attributes that are null, undefined or
  // false are left out (true: present without a value); text children become text nodes.
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  return Object.freeze({ ApiError, client, el });
})();
