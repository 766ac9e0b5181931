// Progressive enhancement only: every page works without this file.
document.addEventListener("htmx:configRequest", function (event) {
  // htmx requests carry the CSRF token from the page's meta tag or any form on it.
  var input = document.querySelector("input[name=csrftoken]");
  if (input) { event.detail.headers["x-csrftoken"] = input.value; }
});

// A page that comes back with form errors moves focus to its error summary, so a screen reader reads the
// problems first and a keyboard user starts from the list of links to the fields.
(function () {
  var summary = document.querySelector(".error-summary");
  if (!summary) { return; }
  summary.focus();
  // A link to "#field" would only scroll the input to the top edge, hiding its label and message:
  // bring the whole field into view and put the cursor in the input.
  summary.addEventListener("click", function (event) {
    var link = event.target.closest("a[href^='#']");
    var input = link && document.getElementById(link.getAttribute("href").slice(1));
    if (!input) { return; }
    event.preventDefault();
    (input.closest(".field") || input).scrollIntoView({block: "start"});
    input.focus({preventScroll: true});
  });
})();
