// Starts Swagger UI on the page's OpenAPI document. Kept out of the HTML: the CSP allows no
// inline script. SwaggerUIBundle comes from vendor/swagger-ui (npm swagger-ui-dist).
"use strict";
window.addEventListener("DOMContentLoaded", () => {
  const target = document.getElementById("swagger");
  if (!target || typeof window.SwaggerUIBundle !== "function") return;
  window.SwaggerUIBundle({
    url: target.dataset.spec,
    domNode: target,
    deepLinking: true,
    // "Try it out" sends the browser's session cookie; state-changing calls need the CSRF
    // token, so integrations should use a token instead (see /admin/jetons).
    tryItOutEnabled: false,
  });
});
