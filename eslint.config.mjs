// Lint rules CI enforces (bash scripts/test runs `npm run lint`).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
    { ignores: ["bin/**", "node_modules/**", "**/*.js", "**/*.mjs"] },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    {
        rules: {
            // A leading underscore marks a value deliberately left unused (destructuring it away, an unused callback argument).
            // `import x = require(...)`: how node-forge must be imported for Pulumi's closure serializer (see src/pki).
            "@typescript-eslint/no-require-imports": ["error", { allowAsImport: true }],
            // Our tsconfig targets ES2020, whose Error has no `cause`; a rethrown error carries the cause's message instead.
            "preserve-caught-error": "off",
            "@typescript-eslint/no-unused-vars": [
                "error",
                { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_", ignoreRestSiblings: true },
            ],
        },
    },
    {
        // Tests talk to mocks, JSON from real tools and Pulumi's untyped outputs: `any` is the honest type there.
        files: ["test/**/*.ts", "bench/**/*.ts"],
        rules: { "@typescript-eslint/no-explicit-any": "off" },
    },
);
