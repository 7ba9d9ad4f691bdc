// Progressive enhancement only: every page works without this file. With JavaScript, filter changes apply
// at once (htmx), so the "Apply filters" buttons are hidden.
document.documentElement.classList.add("js");
