// Hardhat's EDR ships its native code as per-platform optional packages whose engines field says
// Node >= 22. npm running on an older system Node silently skips that package, and Hardhat then
// fails at start-up. When it is missing, install it at exactly the version EDR itself declares.
// See DEVELOPERS.md ("Install traps").
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

// EDR's package.json is not in its "exports", so look for the files rather than require.resolve.
const modules = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..", "node_modules");
const edrPkg = join(modules, "@nomicfoundation", "edr", "package.json");
if (process.platform !== "linux" || process.arch !== "x64" || !existsSync(edrPkg)) process.exit(0);

const { version, optionalDependencies = {} } = JSON.parse(readFileSync(edrPkg, "utf8"));
const libc = existsSync("/etc/alpine-release") ? "musl" : "gnu";
const name = `@nomicfoundation/edr-linux-x64-${libc}`;
const wanted = optionalDependencies[name] ?? version;
if (existsSync(join(modules, name, "package.json"))) process.exit(0);
console.log(`[postinstall] ${name} missing (npm skipped it on Node ${process.version}); installing ${wanted}`);
execFileSync("npm", ["install", "--no-save", "--ignore-scripts", "--no-audit", "--no-fund", `${name}@${wanted}`], {
  stdio: "inherit",
});
