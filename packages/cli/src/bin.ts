/**
 * The entry of the compiled `netforge` command (dist/netforge.js, built by scripts/build.ts). `netforge
 * --version` answers from here; any other command loads the CLI (a chunk beside this file).
 */
import { VERSION } from "./version";

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-V")) process.stdout.write(`${VERSION}\n`);
else await (await import("./main")).main(argv);
