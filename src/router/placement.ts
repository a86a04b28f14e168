/**
 * Where resumed programs go: pure bin packing over the backends' free token room.
 *
 * - `best-fit` (the default, the algorithm the ThunderAgent paper names): programs in decreasing
 *   size, each on the backend whose room left is the smallest that still holds it.
 * - `most-room` (what ThunderAgent's public router.py `_greedy_resume` does): programs in
 *   decreasing size, each on the backend with the most room left.
 *
 * Ties go to the program's origin backend (its context may still be in that prefix cache), then
 * to the backend listed first. A program that fits nowhere is skipped; smaller ones may still fit.
 */

export type Placement = 'best-fit' | 'most-room';

export interface PlaceItem {
  id: string;
  /** tokens the program needs on a backend (its context plus the decode reserve) */
  needTokens: number;
  /** the backend it was paused from, when any */
  origin?: string | undefined;
}

export interface Bin {
  id: string;
  roomTokens: number;
}

/** program id -> backend id, for the programs placed; `bins` is not modified. */
export function placeDecreasing(
  items: readonly PlaceItem[],
  bins: readonly Bin[],
  placement: Placement = 'best-fit',
): Map<string, string> {
  const room = bins.map((b) => ({ id: b.id, room: b.roomTokens }));
  // stable: equal sizes keep the caller's (priority) order
  const order = items
    .map((it, i) => ({ it, i }))
    .sort((a, b) => b.it.needTokens - a.it.needTokens || a.i - b.i);
  const out = new Map<string, string>();
  for (const { it } of order) {
    let best: (typeof room)[number] | undefined;
    for (const b of room) {
      if (b.room < it.needTokens) continue;
      if (!best) {
        best = b;
        continue;
      }
      const better = placement === 'best-fit' ? b.room < best.room : b.room > best.room;
      const tie = b.room === best.room && b.id === it.origin && best.id !== it.origin;
      if (better || tie) best = b;
    }
    if (!best) continue;
    best.room -= it.needTokens;
    out.set(it.id, best.id);
  }
  return out;
}
