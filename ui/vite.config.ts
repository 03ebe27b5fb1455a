import { defineConfig } from "vitest/config";

// Where the dev server and `vite preview` forward API calls; the e2e run points
// it at the port it started the server on.
const server = process.env.MLX_SERVER_URL ?? "http://127.0.0.1:8000";
const proxy = Object.fromEntries(
  ["/api", "/v1", "/health"].map((p) => [p, { target: server, changeOrigin: true }]),
);

export default defineConfig({
  // esbuild's own JSX transform: no React plugin needed (no fast refresh, full reloads instead).
  esbuild: { jsx: "automatic" },
  server: { proxy },
  preview: { proxy },
  build: { outDir: "dist", emptyOutDir: true },
  test: { include: ["src/**/*.test.ts"] },
});
