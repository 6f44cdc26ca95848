/** @type {import('jest').Config} */
module.exports = {
    preset: "ts-jest",
    testEnvironment: "node",
    roots: ["<rootDir>/test"],
    testPathIgnorePatterns: ["/node_modules/"],
    testTimeout: 120000,
    // Transpile only: scripts/test type-checks src and test with tsc first, so a second
    // type-check of every suite in ts-jest only repeats it (2-3x the cold transform time).
    transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "<rootDir>/tsconfig.jest.json" }] },
};
