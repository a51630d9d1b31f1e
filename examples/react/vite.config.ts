import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const dist = (path: string) => fileURLToPath(new URL(`../../dist/${path}`, import.meta.url));

// The example uses the package as an app would: the browser entry and the React subpath, built
// (`npm run build` at the repository root first).
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  plugins: [react()],
  resolve: {
    alias: [
      { find: /^astrometry-net-client\/react$/, replacement: dist('src/react/index.js') },
      { find: /^astrometry-net-client\/wcs$/, replacement: dist('src/wcs/index.js') },
      { find: /^astrometry-net-client\/extract$/, replacement: dist('src/extract/index.js') },
      { find: /^astrometry-net-client$/, replacement: dist('src/browser.js') },
    ],
  },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true },
});
