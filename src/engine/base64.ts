/**
 * Base64 → bytes with no Buffer and no atob, so embedded assets (the .wasm module, the
 * Fashion-MNIST subset) decode the same way in Node, Deno, browsers and workers. Whitespace is
 * skipped (a generator may wrap lines).
 */
const SEXTET = (() => {
  const table = new Int8Array(128).fill(-1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  return table;
})();

export function base64ToBytes(text: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let length = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 61 /* = */) break;
    if (code === 32 || code === 10 || code === 13 || code === 9) continue;
    const v = code < 128 ? SEXTET[code]! : -1;
    if (v < 0) throw new Error(`kdet.base64: invalid base64 character ${JSON.stringify(text[i])} at offset ${i}`);
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[length++] = (acc >>> bits) & 0xff;
    }
  }
  return out.subarray(0, length);
}
