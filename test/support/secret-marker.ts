/** Pulumi's marker of a secret value on the wire and in state (`4dabf181…`): its presence proves a value is secret. */
export const SECRET_SIG = "4dabf18193072939515e22adb298388d";
