/** @type {import('jest').Config} */
module.exports = {
    preset: "ts-jest",
    testEnvironment: "node",
    roots: ["<rootDir>/test"],
    // test/blocked needs resource plugins that cannot be installed here (see its README).
    testPathIgnorePatterns: ["/node_modules/", "<rootDir>/test/blocked/"],
    testTimeout: 120000,
    transform: { "^.+\\.ts$": ["ts-jest", { diagnostics: { warnOnly: false }, isolatedModules: false }] },
};
