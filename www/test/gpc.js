// Test helper: makes this page's browser send a privacy signal, as a browser with the setting
// on would: Global Privacy Control, or Do Not Track with `?signal=dnt` in this script's or the
// page's address; none with `?signal=none`. It also records every request body the page sends,
// so a test can check that nothing identifying leaves it.
(function () {
  var signal = new URL(document.currentScript.src).searchParams.get('signal') ||
    new URLSearchParams(location.search).get('signal') || 'gpc';
  if (signal == 'gpc') {
    Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: function () { return true; } });
  } else if (signal == 'dnt') {
    Object.defineProperty(Navigator.prototype, 'doNotTrack', { get: function () { return '1'; } });
  }
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
