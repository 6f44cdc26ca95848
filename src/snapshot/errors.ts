/**
 * The one error the snapshot reader throws for anything wrong with a file's
 * contents: callers (the CLI, the fuzz tests) can tell "this file is damaged"
 * from a bug in the reader by its type alone.
 */
export class SnapshotFormatError extends Error {
    constructor(
        readonly file: string,
        /** The bbolt page at fault, when one is known. */
        readonly page: number | undefined,
        readonly reason: string,
    ) {
        super(`snapshot ${file}${page === undefined ? "" : ` page ${page}`}: ${reason}`);
        this.name = "SnapshotFormatError";
    }
}
