// Test helper: makes this page's browser send Global Privacy Control (as a browser with the
// setting on would), and records every request body the page sends, so a test can check that
// nothing identifying leaves it.
(function () {
  Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: function () { return true; } });
  window.__sent = [];
  var fetch = window.fetch;
  window.fetch = function (input, init) {
    if (init && typeof init.body == 'string') window.__sent.push(init.body);
    else if (input instanceof Request && input.method == 'POST') input.clone().text().then(function (body) { window.__sent.push(body); });
    return fetch.apply(this, arguments);
  };
  var beacon = navigator.sendBeacon.bind(navigator);
  navigator.sendBeacon = function (url, body) {
    window.__sent.push(String(body));
    return beacon(url, body);
  };
})();
