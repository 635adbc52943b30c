/** Prints the configuration table of the README from src/config.ts (keys, defaults, descriptions). */
import { configKeys, loadConfig } from "../src/config.js";

const defaults = loadConfig({}) as Record<string, unknown>;
console.log("| variable | default | what it sets |\n|---|---|---|");
for (const { key, description } of configKeys) {
  const d = defaults[key];
  const shown = d === undefined ? "—" : key.includes("PRIVATE_KEY") || key === "AUTH_SECRET" ? "(local test value)" : `\`${String(d)}\``;
  console.log(`| \`${key}\` | ${shown} | ${description.replace(/\|/g, "\\|")} |`);
}
