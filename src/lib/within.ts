// Waiting for work only so long: the answer if it comes within `ms`, else `otherwise`; the work
// itself goes on either way. The timer is cleared, so a finished wait never holds the process open.

/** `work`'s value if it settles within `ms`, else `otherwise` (a rejection within `ms` rejects). */
export async function within<T, U>(work: Promise<T>, ms: number, otherwise: U): Promise<T | U> {
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<U>((resolve) => (timer = setTimeout(resolve, ms, otherwise)));
  try {
    return await Promise.race([work, waited]);
  } finally {
    clearTimeout(timer);
  }
}
