// `make assets`: copy the front-end libraries from node_modules (installed by `npm ci` from the
// committed package-lock.json) into the static folder the API serves under /static/vendor/.
// Only the built files a page loads are copied; axe-core stays in node_modules (tests inject it).
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const modules = join(here, "node_modules");
const vendor = join(here, "..", "src", "api", "web", "static", "vendor");

// [from (in node_modules), to (in vendor)]
const FILES = [
  ["uplot/dist/uPlot.iife.min.js", "uplot/uPlot.iife.min.js"],
  ["uplot/dist/uPlot.min.css", "uplot/uPlot.min.css"],
  ["uplot/LICENSE", "uplot/LICENSE"],
  ["leaflet/dist/leaflet.js", "leaflet/leaflet.js"],
  ["leaflet/dist/leaflet.css", "leaflet/leaflet.css"],
  ["leaflet/dist/images", "leaflet/images"],
  ["leaflet/LICENSE", "leaflet/LICENSE"],
  ["swagger-ui-dist/swagger-ui-bundle.js", "swagger-ui/swagger-ui-bundle.js"],
  ["swagger-ui-dist/swagger-ui.css", "swagger-ui/swagger-ui.css"],
  ["swagger-ui-dist/LICENSE", "swagger-ui/LICENSE"],
  ["swagger-ui-dist/NOTICE", "swagger-ui/NOTICE"],
];

rmSync(vendor, { recursive: true, force: true });
for (const [from, to] of FILES) {
  const target = join(vendor, to);
  mkdirSync(dirname(target), { recursive: true });
  cpSync(join(modules, from), target, { recursive: true });
}
console.log(`assets: ${FILES.length} entries copied to ${vendor}`);
