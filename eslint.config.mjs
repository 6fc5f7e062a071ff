// Import layering (see docs/architecture.md):
//  - main/common/   pure TypeScript shared by main and renderer: no Node, no Electron.
//  - main/**        plain Node; only files named *-electron.ts (thin adapters) may import 'electron'.
//  - renderer/**    DOM only: no Node built-ins, no Electron, no main/ code except main/common.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  {
    ignores: [
      'app/dist/**',
      'native/addon/build/**',
      'node_modules/**',
      'artifacts/**',
      'release/**',
      'app/node_modules/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: {
        require: 'readonly',
        module: 'writable',
        __dirname: 'readonly',
        process: 'readonly',
        console: 'readonly',
      },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['main/**/*.ts'],
    ignores: ['main/**/*-electron.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'electron', message: 'Only *-electron.ts adapter files may import electron.' },
          ],
        },
      ],
    },
  },
  {
    files: ['main/common/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['electron', ...nodeBuiltins].map((name) => ({
            name,
            message: 'main/common is shared with the renderer: no Node or Electron imports.',
          })),
        },
      ],
    },
  },
  {
    files: ['renderer/**/*.{ts,tsx}'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['electron', ...nodeBuiltins].map((name) => ({
            name,
            message: 'The renderer is DOM only.',
          })),
          patterns: [
            {
              // A regex, not a gitignore group: a group cannot re-include
              // main/common once main/* is excluded.
              regex: '(^|/)main/(?!common/)',
              message: 'The renderer may import only main/common.',
            },
          ],
        },
      ],
    },
  },
  {
    // Renderer tests run in Node against the real core: they may start it
    // (Node built-ins, main/test-support) but still import no other main/ code.
    files: ['renderer/**/*.test.{ts,tsx}'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'electron', message: 'The renderer never imports electron.' }],
          patterns: [
            {
              regex: '(^|/)main/(?!common/|test-support/)',
              message: 'Renderer tests may import only main/common and main/test-support.',
            },
          ],
        },
      ],
    },
  },
);
