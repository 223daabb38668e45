/* With ?thyromics-check in the address, write what a test needs into the page. */
window.addEventListener("load", function () {
  if (location.search.indexOf("thyromics-check") < 0) { return; }
  var imgs = Array.prototype.map.call(document.images, function (im) {
    return { alt: im.alt.slice(0, 80), complete: im.complete, naturalWidth: im.naturalWidth };
  });
  var sections = Array.prototype.map.call(document.querySelectorAll("section.report-section"), function (s) {
    return { id: s.id, status: s.getAttribute("data-status"), height: s.getBoundingClientRect().height };
  });
  var resources = (performance.getEntriesByType ? performance.getEntriesByType("resource") : [])
    .map(function (r) { return r.name; }).filter(function (n) { return n.indexOf("data:") !== 0; });
  /* Table cells holding one number that the layout broke over two lines or more. */
  var wrapped = Array.prototype.filter.call(document.querySelectorAll("table.data td"), function (td) {
    if (!/^[-+<>]?[0-9][0-9.,e+-]*$/.test(td.textContent.trim())) { return false; }
    var range = document.createRange();
    range.selectNodeContents(td);
    var tops = {};
    Array.prototype.forEach.call(range.getClientRects(), function (r) { tops[Math.round(r.top)] = 1; });
    return Object.keys(tops).length > 1;
  }).map(function (td) { return td.textContent.trim(); });
  var out = document.createElement("pre");
  out.id = "thyromics-check";
  out.textContent = JSON.stringify({ sections: sections, images: imgs, errors: window.__thyromicsErrors,
                                     resources: resources, wrapped_numbers: wrapped });
  document.body.appendChild(out);
});
