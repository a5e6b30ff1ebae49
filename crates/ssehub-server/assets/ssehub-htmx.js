// ssehub-htmx.js: lossless reconnection for htmx 2 pages that use
// htmx-ext-sse (`sse-connect`) with an ssehub hub.
//
// Load it with a classic script after htmx, before or after the extension:
//
//   <script src="/htmx.min.js"></script>
//   <script src="/sse.js"></script>
//   <script src="/ssehub-htmx.js"></script>
//
// Why: when its EventSource fails for good (a proxy answers 502, the server
// restarts...), htmx-ext-sse opens a new EventSource on the `sse-connect`
// URL. A new EventSource does not send the last event id it saw, so every
// event published in between is silently missed (or, when the URL carries a
// `lastEventId`, replayed twice). This script remembers, per URL, the id of
// the last event the page received, and opens each new EventSource with
// `?lastEventId=<that id>`: the hub replays exactly what was missed, or
// sends `ssehub-reset` when it cannot.
//
// How: htmx-ext-sse 2.x creates every EventSource through
// `htmx.createEventSource(url)`, and only sets that function when the page
// has not. This wraps it, and wraps the new source's `addEventListener` so
// that every event the page listens to (`sse-swap`, `hx-trigger="sse:..."`,
// `sse-close`) records its id before htmx acts on it. Unnamed events
// (`message`) and the hub's `ssehub-reset` and `ssehub-gap` are recorded
// even when the page does not listen to them.
//
// htmx 4 needs none of this: its `hx-sse` resumes with `Last-Event-ID`.
(function () {
  'use strict';
  if (typeof htmx === 'undefined') {
    throw new Error('ssehub-htmx.js: load htmx first');
  }
  if (htmx.__ssehubResume) return;
  htmx.__ssehubResume = true;

  /** The id of the last event received, per `sse-connect` URL. */
  var lastIds = new Map();
  var create =
    htmx.createEventSource ||
    function (url) {
      return new EventSource(url, { withCredentials: true });
    };

  function resumeUrl(url, id) {
    var resolved = new URL(url, document.baseURI);
    resolved.searchParams.set('lastEventId', id);
    return resolved.href;
  }

  htmx.createEventSource = function (url) {
    var id = lastIds.get(url);
    var source = create(id === undefined ? url : resumeUrl(url, id));
    var remember = function (event) {
      // An event without an id keeps the stream's last one; an empty id
      // resets it (the standard's rule, which `lastEventId` follows).
      if (event.lastEventId) {
        lastIds.set(url, event.lastEventId);
      } else if (event.lastEventId === '' && lastIds.has(url)) {
        lastIds.delete(url);
      }
    };
    var add = source.addEventListener;
    var remove = source.removeEventListener;
    // The wrapper of each listener, so that removing the listener works.
    var wrappers = new WeakMap();
    source.addEventListener = function (type, listener, options) {
      if (typeof listener !== 'function') return add.call(this, type, listener, options);
      var wrapped = wrappers.get(listener);
      if (!wrapped) {
        wrapped = function (event) {
          remember(event);
          return listener.call(this, event);
        };
        wrappers.set(listener, wrapped);
      }
      return add.call(this, type, wrapped, options);
    };
    source.removeEventListener = function (type, listener, options) {
      var wrapped = typeof listener === 'function' ? wrappers.get(listener) : undefined;
      return remove.call(this, type, wrapped || listener, options);
    };
    ['message', 'ssehub-reset', 'ssehub-gap'].forEach(function (type) {
      add.call(source, type, remember);
    });
    return source;
  };
})();
