import { crc32c } from '../../../../src/providers/gcp/crc32c.ts';

describe('crc32c (Castagnoli)', () => {
  // The check value of the CRC catalogue and the iSCSI vectors of RFC 3720 B.4.
  test.each([
    ['"123456789"', Buffer.from('123456789'), 0xe3069283],
    ['the empty string', Buffer.alloc(0), 0],
    ['32 zero bytes', Buffer.alloc(32, 0), 0x8a9136aa],
    ['32 bytes of 0xFF', Buffer.alloc(32, 0xff), 0x62a8ab43],
    ['bytes 0..31', Buffer.from(Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e],
    ['bytes 31..0', Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c],
  ])('%s', (_name, data, expected) => {
    expect(crc32c(data)).toBe(expected);
  });

  test('takes any Uint8Array and returns an unsigned 32-bit number', () => {
    const value = crc32c(new Uint8Array([0xde, 0xad, 0xbe, 0xef]));
    expect(Number.isInteger(value)).toBe(true);
    expect(value).toBeGreaterThanOrEqual(0);
    expect(value).toBeLessThanOrEqual(0xffffffff);
  });
});
