/** Where the built CLI is (tools and tests run it as a child process). */
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
