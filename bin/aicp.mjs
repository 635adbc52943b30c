#!/usr/bin/env node
// The `aicp` command: runs the TypeScript CLI (src/cli/main.ts) through tsx's loader, so the
// repository needs no build step.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
await main(process.argv);
