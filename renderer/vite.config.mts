// Builds the renderer bundle into app/dist/renderer, served by the web host
// (`hookscope serve`) and by the desktop app's custom protocol.
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: '/',
  plugins: [react()],
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('../app/dist/renderer', import.meta.url)),
    emptyOutDir: true,
    // The CSP allows only scripts from the bundle itself: no inline helpers.
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
});
