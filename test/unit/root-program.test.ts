// The root Pulumi.yaml is the recovery environment: the same program and the
// same stack configuration keys as examples/recovery, so the README's
// `pulumi stack init incident-…` workflow works from the repository root.
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";

const ROOT = path.join(__dirname, "..", "..");
const load = (file: string) => yaml.load(fs.readFileSync(path.join(ROOT, file), "utf8")) as Record<string, any>;

test("root Pulumi.yaml runs program/ with the example's configuration keys, types and defaults", () => {
    const root = load("Pulumi.yaml");
    const example = load("examples/recovery/Pulumi.yaml");
    expect(root.name).toBe("etcd-recovery");
    expect(root.runtime).toEqual(example.runtime);
    expect(root.main).toBe("program/");
    expect(root.config).toEqual(example.config);
    expect(root.backend).toBeUndefined();
});

test("program/index.ts is the example program, not a copy", () => {
    const source = fs.readFileSync(path.join(ROOT, "program", "index.ts"), "utf8");
    expect(source).toMatch(/^export \* from "\.\.\/examples\/recovery\/index";$/m);
});
