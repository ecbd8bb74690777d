/** The floor for process start-up times: a `deno run` of a module that does nothing. */
export {};
