/** A promise the test opens when it chooses: to decide when a task under test may go on. */
export function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

/** Lets pending promise callbacks run. */
export const tick = () => new Promise((resolve) => setImmediate(resolve));
