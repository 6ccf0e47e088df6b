// Rapport's only page script: small progressive enhancements; every page works without it.
const summary = document.querySelector("[data-focus]");
if (summary) summary.focus();
