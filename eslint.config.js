// ESLint (flat config): typescript-eslint's recommended rules, plus the
// project's own seams: only src/ssh2/ (the adapter) loads ssh2 as a value
// (everything else imports its types), so its private internals have one
// door (see that file).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const ssh2Seam = {
  paths: [{ name: 'ssh2', message: 'load ssh2 through src/ssh2/load.ts (type imports are fine)', allowTypeImports: true }],
  patterns: [{ group: ['ssh2/*'], message: "ssh2's internals are required in src/ssh2/ only", allowTypeImports: true }],
};

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'native/build/', 'bench-results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', ssh2Seam],
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.name='require'][arguments.0.value=/^ssh2/]",
          message: 'ssh2 is required in src/ssh2/ only',
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
    },
  },
  {
    // the adapter, and its contract test (which drives ssh2's own Server)
    files: ['src/ssh2/*.ts', 'test/unit/ssh2Seam.test.ts', 'test/unit/sshPair.ts'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    files: ['scripts/**/*.mjs', 'test/standin/**/*.mjs'],
    languageOptions: {
      globals: {
        console: 'readonly',
        process: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        Buffer: 'readonly',
        setImmediate: 'readonly',
      },
    },
  },
);
