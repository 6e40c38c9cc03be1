import { defineConfig } from 'vite';

// The server embeds dist/ and serves it at /; the API is on the same origin.
// `npm run dev` proxies the API to a local `gridpatrol-server demo` (GRIDPATROL_SERVER, default :8080).
const server = process.env.GRIDPATROL_SERVER ?? 'http://127.0.0.1:8080';

export default defineConfig({
  base: '/',
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 1500 },
  server: { proxy: { '/api': server, '/healthz': server } },
  test: { include: ['tests/unit/**/*.test.ts'], environment: 'node' },
} as any);
