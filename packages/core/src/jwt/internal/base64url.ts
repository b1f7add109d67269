/**
 * Canonical base64url (RFC 7515 §2, RFC 4648 §5 without padding).
 *
 * Buffer's decoder is lenient: it skips whitespace and unknown characters, accepts `=`, `+` and
 * `/`, drops a dangling sixth-bit character and ignores the unused low bits of the last one. Left
 * alone, that gives every token many spellings that all verify. A segment is therefore accepted
 * only when re-encoding its decoded bytes gives back exactly the same text, which covers alphabet,
 * padding, length mod 4 and unused bits in one comparison, all in native code (measured ~2× faster
 * than a JavaScript character-class loop, and the decode is needed anyway).
 */

/** Decodes `text[start, end)` if it is canonical unpadded base64url, else returns `undefined`. */
export function decodeCanonicalBase64url(text: string, start = 0, end = text.length): Buffer | undefined {
  const segment = start === 0 && end === text.length ? text : text.slice(start, end);
  const bytes = Buffer.from(segment, 'base64url');
  return bytes.toString('base64url') === segment ? bytes : undefined;
}
