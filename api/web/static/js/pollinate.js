// Progressive enhancement only: every page works without this file. With JavaScript, filter changes apply
// at once (htmx), so the "Apply filters" buttons are hidden.
document.documentElement.classList.add("js");

// The need-writing assistant: with JavaScript, "Tick" ticks the suggested box in the form itself (and the
// assistant refreshes from the change) instead of sending the whole form; without it, the button sends the
// form and the page comes back with the box ticked. Only the reader's click ever ticks a box.
document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("[data-tick], [data-choose]") : null;
  if (!button || !window.htmx) return;
  const field = document.getElementById(button.dataset.tick || button.dataset.choose);
  if (!field) return;
  event.preventDefault();
  if (button.dataset.tick) {
    field.checked = true;
  } else {
    field.value = button.dataset.value;
  }
  field.dispatchEvent(new Event("change", { bubbles: true }));
});
