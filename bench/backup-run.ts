// Runs only the EtcdBackup bench (same as `npm run bench -- backup`).
import { benchBackup } from "./backup";

benchBackup().catch((error: unknown) => {
    console.error(error instanceof Error ? error.stack : error);
    process.exit(1);
});
