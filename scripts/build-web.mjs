// Builds the web app (web/) with Vite into web/dist, which the coordinator serves at / and
// /dashboard. Runs from npm install (postinstall) and from npm start; with --if-stale it builds
// only when a source is newer than the last build (so a restart costs nothing).
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const out = join(root, "web", "dist", "index.html");
const sources = [join(root, "web", "src"), join(root, "web", "index.html"), join(root, "web", "vite.config.ts"), join(root, "src", "protocol")];

function newest(path) {
  if (!existsSync(path)) return 0;
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((f) => newest(join(path, f))));
}

if (process.argv.includes("--if-stale") && existsSync(out) && statSync(out).mtimeMs >= Math.max(...sources.map(newest))) process.exit(0);
const started = Date.now();
const { build } = await import("vite");
await build({ configFile: join(root, "web", "vite.config.ts"), logLevel: "warn" });
console.log(`[web] built web/dist in ${Date.now() - started} ms`);
