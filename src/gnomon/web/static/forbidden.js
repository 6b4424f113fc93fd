// The answer to a viewer who opens an administration page: words, language picker, log out.
import { startPage } from "./shell.js";

await startPage();
