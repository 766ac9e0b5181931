// Kept in a file, not inline, so the Content-Security-Policy can forbid inline script.
window.addEventListener("DOMContentLoaded", function () {
  var el = document.getElementById("swagger-ui");

  // Swagger UI renders its own <main> and <h1> inside our page's <main>: a second main landmark and a
  // second top-level heading confuse screen-reader navigation, so they are demoted whenever they appear.
  function fitIntoPage() {
    el.querySelectorAll("main:not([role])").forEach(function (m) {
      m.setAttribute("role", "region");
      m.setAttribute("aria-label", el.dataset.operationsLabel || "Operations");
    });
    el.querySelectorAll("h1:not([aria-level])").forEach(function (h) {
      h.setAttribute("role", "heading");
      h.setAttribute("aria-level", "2");
    });
  }
  new MutationObserver(fitIntoPage).observe(el, { childList: true, subtree: true });

  window.ui = SwaggerUIBundle({ url: el.dataset.specUrl, dom_id: "#swagger-ui", deepLinking: true });
});
