// Progressive enhancement only: every page works without this file.
document.addEventListener("htmx:configRequest", function (event) {
  // htmx requests carry the CSRF token from the page's meta tag or any form on it.
  var input = document.querySelector("input[name=csrftoken]");
  if (input) { event.detail.headers["x-csrftoken"] = input.value; }
});
