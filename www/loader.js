/* Touchstone loader: reads its settings from this script tag, queues touchstone(...) calls,
   then loads the survey widget when the page is idle. It never throws into the page. */
(function (w, d) {
  var PREFIX = 'touchstone: ';
  function warn(message, error) {
    try { console.warn(PREFIX + message, error === undefined ? '' : error); } catch (_) {}
  }
  try {
    var script = d.currentScript;
    if (!script) return warn('load this file with a plain <script src> tag so it can read its data- settings');
    var site = script.getAttribute('data-site');
    if (!site) return warn('the script tag needs data-site="YOUR_SITE_KEY"');
    var api = (script.getAttribute('data-api') || new URL(script.src).origin).replace(/\/+$/, '');
    var base = api + '__TOUCHSTONE_WIDGET_BASE__';
    var t = w.touchstone = w.touchstone || function () { (t.q = t.q || []).push([].slice.call(arguments)); };
    if (t.loaded) return warn('the script is on this page twice; the second copy does nothing');
    t.loaded = 1;
    var load = function () {
      try {
        import(base + '/touchstone_widget.js')
          .then(function (m) {
            return m.default({ module_or_path: base + '/touchstone_widget_bg.wasm' }).then(function () {
              m.start(site, api, t.q || []);
            });
          })
          .catch(function (e) { warn('the survey could not start', e); });
      } catch (e) { warn('the survey could not load', e); }
    };
    if (w.requestIdleCallback) w.requestIdleCallback(load, { timeout: 3000 });
    else setTimeout(load, 1);
  } catch (e) { warn('the loader failed', e); }
})(window, document);
