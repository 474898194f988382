// frontdesk dashboard: the only script. Pages work without it; it submits the date and
// provider pickers as soon as they change.
document.addEventListener("change", function (ev) {
  var el = ev.target;
  if (el && el.hasAttribute && el.hasAttribute("data-autosubmit") && el.form) {
    el.form.submit();
  }
});
