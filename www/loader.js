// Touchstone loader: reads its settings from this script tag, defines touchstone(...), queues
// calls until the widget is ready, reports single-page-app navigation and data-touchstone
// clicks, loads the widget's core when the page is idle, and its survey module when the core
// asks for a survey. It never throws into the page.
// The collector serves it without its comment lines and indentation (routes/assets.rs), so
// comments stay on lines of their own and no line may start with `//` inside a string.
(function (w, d) {
  function warn(message, error) {
    try { console.warn('touchstone: ' + message, error === undefined ? '' : error); } catch (_) {}
  }
  try {
    var s = d.currentScript;
    if (!s) return warn('load this file with a plain <script src> tag so it can read its data- settings');
    var data = function (name) { return s.getAttribute('data-' + name); };
    var site = data('site');
    if (!site) return warn('the script tag needs data-site="YOUR_SITE_KEY"');
    var api = (data('api') || new URL(s.src).origin).replace(/\/+$/, '');
    var base = api + '__TOUCHSTONE_WIDGET_BASE__';
    var old = w.touchstone;
    if (old && old.loaded) return warn('the script is on this page twice; the second copy does nothing');
    // Calls made to a stub the page defined before this script (touchstone.q) are kept.
    var queue = (old && old.q) || [];
    var run;
    var t = w.touchstone = function () {
      var call = [].slice.call(arguments);
      if (!run) return void queue.push(call);
      try { run(call); } catch (e) { warn('touchstone(' + call[0] + ') failed', e); }
    };
    t.loaded = 1;
    t.q = queue;
    var href = location.href;
    // Single-page apps: each history change to a new address is a page view. Patched once
    // (the guard above), calling through with the page's own arguments and result.
    var page = function () { t('page', location.href); };
    ['pushState', 'replaceState'].forEach(function (name) {
      var original = history[name];
      if (typeof original != 'function') return;
      history[name] = function () {
        var before = location.href;
        var result = original.apply(this, arguments);
        if (location.href != before) page();
        return result;
      };
    });
    w.addEventListener('popstate', page);
    // One delegated listener for touchpoints named in markup: <a data-touchstone="support_contact">.
    d.addEventListener('click', function (e) {
      var target = e.target && e.target.closest && e.target.closest('[data-touchstone]');
      if (target) t('touch', target.getAttribute('data-touchstone'));
    }, true);
    // The survey UI is a second module, fetched only when the core asks for a survey: most
    // page views never download it. One promise per page, dropped on failure; a failure is
    // reported, the core goes on recording and a later page of the session may ask again.
    var survey;
    var showSurvey = function (id, config) {
      survey = survey || import(base + '/touchstone_survey.js').then(function (m) {
        return m.default({ module_or_path: base + '/touchstone_survey_bg.wasm' }).then(function () { return m; });
      });
      survey.then(function (m) {
        m.mount(config, id, data('lang') || '', function (score, comment, language) {
          return run(['_answer', id, score, comment, language]);
        }, function () { run(['_dismissed', id]); });
        run(['_shown', id]);
      }).catch(function (e) {
        survey = 0;
        warn('the survey could not be shown', e);
        // Not shown, so the session's one survey is not used up: a later page asks again.
        try { run(['_failed', id]); } catch (_) {}
      });
    };
    var load = function () {
      import(base + '/touchstone_widget.js')
        .then(function (m) {
          // A URL lets the glue use WebAssembly.instantiateStreaming (application/wasm).
          return m.default({ module_or_path: base + '/touchstone_widget_bg.wasm' }).then(function () {
            m.start(site, api, href, data('consent') == 'required', data('debug') != null, showSurvey);
            run = m.command;
            queue.splice(0).forEach(function (call) { t.apply(w, call); });
          });
        })
        .catch(function (e) { warn('the widget could not start', e); });
    };
    if (w.requestIdleCallback) w.requestIdleCallback(load, { timeout: 3000 });
    else setTimeout(load, 1);
  } catch (e) { warn('the loader failed', e); }
})(window, document);
