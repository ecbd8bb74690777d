/** The acmems release, printed by `acmems --version` and sent as part of the ACME User-Agent. */
export const VERSION = "0.1.0";
