// CRC-32C (Castagnoli), the checksum Google Secret Manager puts on every payload. A few lines
// of table-driven code rather than a dependency: it is the reflected form of polynomial
// 0x1EDC6F41 (0x82F63B78 reversed), initial value and final XOR 0xFFFFFFFF, as in RFC 3720.

const table = buildTable(0x82f63b78);

function buildTable(reversedPolynomial: number): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let bit = 0; bit < 8; bit++) c = c & 1 ? (c >>> 1) ^ reversedPolynomial : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

/** The CRC-32C of `data`, as an unsigned 32-bit number (crc32c("123456789") = 0xE3069283). */
export function crc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = table[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
