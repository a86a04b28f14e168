/**
 * Prefix-cache block hashes and the ids of generated tokens.
 * A block hash chains the parent's hash with the block's token ids (only FULL blocks are
 * hashed), so equal hashes mean equal whole prefixes. Two independent 32-bit murmur-style lanes
 * are folded into one 53-bit integer (a JS number, exact), which keeps accidental collisions
 * negligible for millions of blocks without strings or BigInts on the hot path.
 */

/** the parent hash of a request's first block */
export const ROOT_HASH = 0;

function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** hash of (parent, tokens[start, start + len)) as a non-negative integer < 2^53 */
export function hashBlock(parent: number, tokens: ArrayLike<number>, start: number, len: number): number {
  const pLo = (parent % 4294967296) | 0;
  const pHi = Math.floor(parent / 4294967296) | 0;
  let a = mix(mix(0x9747b28c, pLo), pHi);
  let b = mix(mix(0x3c6ef372, pHi), pLo);
  for (let i = start; i < start + len; i++) {
    const t = tokens[i]! | 0;
    a = mix(a, t);
    b = mix(b, t ^ 0x5bd1e995);
  }
  a = fmix(a ^ len);
  b = fmix(b ^ (len * 31));
  return (b & 0x1fffff) * 4294967296 + a;
}

/**
 * The id of the i-th generated token of a request: deterministic from the request id, in
 * [2^31, 2^32) so it never equals a prompt token id of the sim tokenizer (< 2^31). A later
 * request that re-sends the conversation hits the cached output blocks only if it carries these
 * same ids (an in-process driver can; the HTTP front can pass `outputTokenIds` instead).
 */
export function syntheticOutputTokenId(requestKey: number, i: number): number {
  return (fmix(mix(requestKey, i)) | 0x80000000) >>> 0;
}

/** FNV-1a of a request id string: the key for syntheticOutputTokenId */
export function requestKey(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
