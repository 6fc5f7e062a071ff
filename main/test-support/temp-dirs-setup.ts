// Vitest setup file: after each test file, the folders its tests made
// with tempDir are removed. Registered first, so with vitest's stacked
// after-hooks it runs after the file's own afterAll (servers stopped first).
import { afterAll } from 'vitest';

import { removeTempDirs } from './cli.js';

afterAll(removeTempDirs);
