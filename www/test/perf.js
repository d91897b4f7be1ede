// Test helper (loaded before the widget): records the page's long tasks (> 50 ms) so the
// browser tests can report what the widget adds to a host page.
(function () {
  window.__longtasks = [];
  try {
    new PerformanceObserver(function (list) {
      list.getEntries().forEach(function (entry) {
        window.__longtasks.push({ start: entry.startTime, duration: entry.duration });
      });
    }).observe({ type: 'longtask', buffered: true });
  } catch (_) {}
})();
