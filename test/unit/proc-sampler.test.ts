// The process sampler of the restore e2e tests (test/support/proc-sampler.ts) on a process tree of
// this machine: it must see a short-lived grandchild's command line and environment (so a test that
// finds no secret in its samples did sample), and nothing outside the tree.
import { spawn } from "child_process";
import { keyForms, leaks, sampleProcesses } from "../support/proc-sampler";

const PEM =
    "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIHx0cGx1c3QtYS1mYWtlLWtleS1mb3ItdGhlLXNhbXBsZXI=\n-----END PRIVATE KEY-----\n";

test("sees the command lines and environments of a root's descendants, not of other processes", async () => {
    const marker = `marker-${process.pid}-${Date.now()}`;
    const outsider = spawn("sleep", ["2.5"], { stdio: "ignore" });
    // sh -> sh (argv: sh -c 'sleep 0.3; true' <marker>-inside) -> sleep: the grandchild lives 0.3 s, the marker in its argv and environment.
    const tree = spawn("sh", ["-c", `sleep 0.5; sh -c 'sleep 0.3; true' ${marker}-inside; sleep 0.5`], {
        stdio: "ignore",
        env: { ...process.env, SAMPLER_MARK: marker },
    });
    const sampler = sampleProcesses([tree.pid!], 20);
    await new Promise((resolve) => tree.on("exit", resolve));
    const samples = await sampler.stop();
    outsider.kill();
    const cmdlines = [...samples.cmdlines];
    expect(samples.passes).toBeGreaterThan(10);
    expect(cmdlines.filter((c) => c.includes(`${marker}-inside`))).not.toEqual([]);
    expect([...samples.environs].some((e) => e.includes(`SAMPLER_MARK=${marker}`))).toBe(true);
    expect(cmdlines.filter((c) => c.startsWith("sleep 2.5"))).toEqual([]);
    // leaks() finds what was there and masks it.
    expect(leaks(samples, [`${marker}-inside`])).toEqual(
        expect.arrayContaining([expect.objectContaining({ where: "cmdline", secret: 0, text: expect.stringContaining("<secret>") })]),
    );
    expect(JSON.stringify(leaks(samples, [`${marker}-inside`]))).not.toContain(`${marker}-inside`);
});

test("keyForms: the marker, each body line, the body as one line, and the base64 of the whole PEM", () => {
    const forms = keyForms(PEM);
    expect(forms[0]).toBe("PRIVATE KEY");
    expect(forms).toContain("MC4CAQAwBQYDK2VwBCIEIHx0cGx1c3QtYS1mYWtlLWtleS1mb3ItdGhlLXNhbXBsZXI=");
    expect(forms).toContain(Buffer.from(PEM).toString("base64").slice(0, 64));
    const samples = {
        passes: 1,
        cmdlines: new Set([`sh -c echo ${Buffer.from(PEM).toString("base64")} | base64 -d`]),
        environs: new Set<string>(),
    };
    expect(leaks(samples, forms).map((l) => l.secret)).toEqual([3]);
});
