/** A source of time, injected so tests can move it. Seconds since the epoch, possibly fractional. */
export interface Clock {
  /** Current time in milliseconds since the epoch. */
  nowMs(): number;
}

/** The wall clock. */
export const systemClock: Clock = { nowMs: () => Date.now() };

/** A clock tests can set and advance. */
export class ManualClock implements Clock {
  private current: number;
  constructor(startMs = Date.now()) {
    this.current = startMs;
  }
  nowMs(): number {
    return this.current;
  }
  /** Moves the clock forward by `ms` milliseconds. */
  advance(ms: number): void {
    this.current += ms;
  }
  set(ms: number): void {
    this.current = ms;
  }
}

/** Whole seconds since the epoch, as JWT NumericDate. */
export function epochSeconds(clock: Clock): number {
  return Math.floor(clock.nowMs() / 1000);
}
