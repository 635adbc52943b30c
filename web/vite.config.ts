import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The web app: built into web/dist by scripts/build-web.mjs (npm install, and npm start when stale);
// the coordinator serves it at / and /dashboard. It imports the shared wire vocabulary from src/protocol.
export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 2000 },
  logLevel: "warn",
});
