// Vigie's small progressive script: pages work without it; with it, a few things get easier.
// No inline script anywhere (the CSP forbids it): behaviour hangs on data-* attributes.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // <button data-confirm="Question ?">: ask before a destructive form is sent.
  document.querySelectorAll("[data-confirm]").forEach((button) => {
    button.addEventListener("click", (event) => {
      if (!window.confirm(button.getAttribute("data-confirm"))) event.preventDefault();
    });
  });

  // <button data-copy="id" hidden>: copy a secret shown once; the button shows only if it can work.
  document.querySelectorAll("[data-copy]").forEach((button) => {
    const target = document.getElementById(button.getAttribute("data-copy"));
    if (!target || !navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(target.textContent.trim());
        button.textContent = "Copié";
      } catch {
        button.textContent = "Copie impossible : sélectionnez le texte";
      }
    });
  });
});
