// Waiting in tests for something another process does: poll a condition
// until it holds, or fail saying what never happened.

export async function until(
  cond: () => boolean,
  ms = 10_000,
  what = 'the condition',
  everyMs = 10,
): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
