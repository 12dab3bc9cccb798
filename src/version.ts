/** The release, in one place (the CLI, the API, the log, doctor). Keep equal to package.json's version. */
export const VERSION = '0.1.0';
