/* Records errors so that a headless browser test can read them (see the end of the page). */
window.__thyromicsErrors = [];
(function () {
  var orig = console.error;
  console.error = function () {
    window.__thyromicsErrors.push(Array.prototype.join.call(arguments, " "));
    return orig.apply(console, arguments);
  };
  window.addEventListener("error", function (e) {
    var t = e.target && e.target.tagName ? e.target.tagName + " failed to load" : (e.message || "error");
    window.__thyromicsErrors.push(String(t));
  }, true);
  document.addEventListener("securitypolicyviolation", function (e) {
    window.__thyromicsErrors.push("CSP blocked " + e.blockedURI);
  });
})();
