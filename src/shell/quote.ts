/**
 * Quotes a value as one POSIX sh word: bare when it holds only characters no
 * shell treats specially (letters, digits and `_./:=,@%+-`), else in single
 * quotes, each `'` written as `'\''`. The empty string is `''`.
 *
 * One rule for every shell this package renders (the backup uploader's
 * settings, the restore and migration runbooks): the word reads back as
 * exactly `value`, in an argument or after `NAME=` (no `~`, so no tilde
 * expansion after `=` or `:`).
 */
export function shellQuote(value: string): string {
    return /^[A-Za-z0-9_./:=,@%+-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}
