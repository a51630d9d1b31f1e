import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const dist = (path: string) => fileURLToPath(new URL(`../../dist/${path}`, import.meta.url));

// The package as an app uses it: its browser entry, built (`npm run build` at the repository root first).
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  plugins: [react()],
  resolve: { alias: [{ find: /^astrometry-net-client$/, replacement: dist('src/browser.js') }] },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true },
});
