/// <reference types="vitest/config" />
// Build of the operator console. Everything the page loads comes from the server that serves it: no CDN, no
// web font, no external tile or style (the sovereignty rule). `npm run dev` proxies the API to a running
// `hyperviseur serve` (HYPERVISEUR_API, default http://127.0.0.1:8000), WebSocket included.
import type { Plugin } from 'vite';
import { defineConfig } from 'vitest/config';

// loaders.gl (under deck.gl) defaults to fetching its worker scripts from unpkg.com. Nothing of ours uses a
// loaders.gl worker, but the default must not point outside: it is rewritten to a same-origin path, so that a
// future overlay that needs a worker gets a 404 here (and ships the file under /vendor) instead of a CDN call.
const FOREIGN_DEFAULTS: [string, string][] = [['https://unpkg.com/@loaders.gl', '/vendor/loaders.gl']];

function sovereign(): Plugin {
  return {
    name: 'hyperviseur-sovereign',
    renderChunk(code) {
      let out = code;
      for (const [foreign, local] of FOREIGN_DEFAULTS) out = out.split(foreign).join(local);
      return out === code ? null : { code: out, map: null };
    },
  };
}

const api = process.env.HYPERVISEUR_API ?? 'http://127.0.0.1:8000';
const proxied = { target: api, changeOrigin: false };

export default defineConfig({
  base: '/',
  plugins: [sovereign()],
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    target: 'es2022',
    sourcemap: false,
    // The polyfill would be one more inline-able snippet; every browser we support has modulepreload.
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 4000,
    // Hashed names everywhere: the server caches /assets/* for a year.
    assetsInlineLimit: 0,
  },
  server: {
    host: '127.0.0.1',
    proxy: {
      '/api': proxied,
      '/ogc': proxied,
      '/raster': proxied,
      '/health': proxied,
      '/tiles': { ...proxied, ws: true },
    },
  },
  test: {
    include: ['tests/unit/**/*.test.ts'],
    environment: 'node',
  },
});
