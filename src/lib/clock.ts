/**
 * The one clock: everything that compares times gets a `Clock` passed in, so a test can move time without waiting.
 * Timers (setTimeout) and `performance.now()` deadlines are not clock readings and stay on the real clock.
 */

/** Returns the current time. */
export type Clock = () => Date;

/** The real clock. */
export const systemClock: Clock = () => new Date();
