// The one shellQuote (src/shell/quote.ts) used by the backup uploader's settings
// and the restore / migration runbooks: each quoted word reads back as exactly
// its value in a real sh, as an argument and after NAME=.
import { spawnSync } from "child_process";
import * as fs from "fs";
import { shellQuote } from "../../src/shell/quote";

// dash (Debian's /bin/sh, what runbooks meet on the nodes) and busybox sh (the uploader image's).
const SHELLS: [string, string[]][] = [
    ["/bin/sh", []],
    ["/bin/busybox", ["sh"]],
];
for (const [shell, fix] of [
    ["/bin/sh", "apt-get install dash"],
    ["/bin/busybox", "run bash scripts/setup (it installs busybox-static)"],
]) {
    if (!fs.existsSync(shell!)) throw new Error(`${shell} is missing: ${fix}`);
}

const VALUES = [
    "/root/s.db",
    "store:b/etcd-backup/prod",
    "https://127.0.0.1:2379",
    "a=b,c@d%e+f-g_h.i",
    "10s",
    "",
    "a b",
    "it's",
    "''",
    "$HOME",
    "${X:-y}",
    "`id`",
    "$(id)",
    "a\\b",
    'say "hi"',
    "~",
    "a:~/b",
    "*",
    "[ab]",
    "a;b&c|d",
    "#x",
    "new\nline",
    "tab\tx",
    "-n",
];

describe("shellQuote", () => {
    test("plain words stay bare, everything else is single-quoted", () => {
        expect(shellQuote("/root/s.db")).toBe("/root/s.db");
        expect(shellQuote("KEEP")).toBe("KEEP");
        expect(shellQuote("")).toBe("''");
        expect(shellQuote("a b")).toBe("'a b'");
        expect(shellQuote("it's")).toBe("'it'\\''s'");
        expect(shellQuote("~")).toBe("'~'");
    });

    test.each(SHELLS)("%s %j reads every quoted value back as itself, as an argument and after NAME=", (shell, args) => {
        // One line per value, NUL-separated output: printf '%s' of the argument, then of the variable.
        const script = VALUES.map((v) => `printf '%s\\0' ${shellQuote(v)}; V=${shellQuote(v)}; printf '%s\\0' "$V"`).join("\n");
        const run = spawnSync(shell, [...args, "-c", script], { encoding: "utf8", env: { PATH: process.env.PATH, HOME: "/home/someone" } });
        expect(run.stderr).toBe("");
        expect(run.status).toBe(0);
        expect(run.stdout.split("\0").slice(0, -1)).toEqual(VALUES.flatMap((v) => [v, v]));
    });
});
