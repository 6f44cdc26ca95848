// The main job (bash scripts/demo): a lost object got back, start to end, on this machine.
// A throw-away production cluster loses objects; the EtcdBackup pod's snapshot
// brings them back through the RecoveryEnvironment, the CLI's diff and export.
// Every step is printed with its time; everything is removed at the end.
// The steps live in scripts/demo-scenario.ts, shared with test/e2e/recovery-scenario.test.ts.
//
//   npx ts-node --transpile-only scripts/demo.ts        run it (bash scripts/demo sets up first)
//   npx ts-node --transpile-only scripts/demo.ts down   remove what a killed run left
import { removeLeftovers, runScenario } from "./demo-scenario";

const LABEL = "demo";

async function up(): Promise<void> {
    const print = (line: string) => console.log(line);
    const scenario = await runScenario({ label: LABEL, print });
    const { result } = scenario;
    try {
        print("");
        print(`restored in production: ${result.restore.exported.join(", ")}`);
        print(`backup used: ${result.backup.object} (revision ${result.snapshot.revision}), from ${result.backup.directory}`);
    } finally {
        await scenario.cleanup();
    }
    for (const line of scenario.summary()) print(line);
}

async function down(): Promise<void> {
    await removeLeftovers(LABEL);
    console.log("removed what a demo run left (containers, networks, volumes, host guard rule)");
}

const command = process.argv[2] ?? "up";
if (command !== "up" && command !== "down") {
    console.error(`unknown command "${command}": use up (default) or down`);
    process.exit(2);
}
(command === "down" ? down() : up()).catch((error: unknown) => {
    console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
});
