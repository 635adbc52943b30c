/** Prints the configuration table of the README from src/config.ts (keys, defaults, descriptions). */
import { configKeys, loadConfig } from "../src/config.js";

const defaults = loadConfig({}) as Record<string, unknown>;
console.log("| variable | default | what it sets |\n|---|---|---|");
for (const { key, description } of configKeys) {
  // Paths are resolved against the working directory at load; the table shows them as written.
  const d = typeof defaults[key] === "string" && (defaults[key] as string).startsWith(process.cwd() + "/") ? (defaults[key] as string).slice(process.cwd().length + 1) : defaults[key];
  const shown = d === undefined ? "—" : key.includes("PRIVATE_KEY") || key === "AUTH_SECRET" ? "(local test value)" : `\`${String(d)}\``;
  console.log(`| \`${key}\` | ${shown} | ${description.replace(/\|/g, "\\|")} |`);
}
