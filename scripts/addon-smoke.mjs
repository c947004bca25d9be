// Loads a built addon (argv[2]) in whatever Node runs this, on whatever CPU,
// and checks it works: its layout, and its AES-GCM against node:crypto (which
// shares no code with it), packet after packet, as in OpenSSH's layout (the
// 4-byte length as additional data, the IV's counter incremented per packet).
// scripts/check-arm64.sh runs it in an arm64 Node under qemu; the unit tests
// (test/unit/channelData.test.ts) import gcmAgrees for the same check.
import { createDecipheriv, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * Seals `packets` packets with the addon's Sealer, opens them with node:crypto
 * and with its Opener; returns what went wrong (empty when nothing did) and
 * the sealer and opener used.
 */
export function gcmAgrees(addon, ssl, keyLen, packets = 3) {
  const problems = [];
  const key = randomBytes(keyLen);
  const iv = randomBytes(12);
  const sealer = new addon.Sealer(ssl, key, iv);
  const opener = new addon.Opener(ssl, key, iv);
  for (let i = 0; i < packets; i++) {
    const body = randomBytes(32 + 16 * i); // what follows the length field: a multiple of the block
    const packet = Buffer.alloc(4 + body.length + 16);
    packet.writeUInt32BE(body.length, 0);
    body.copy(packet, 4);
    sealer.encrypt(packet);
    const nonce = Buffer.from(iv);
    nonce.writeBigUInt64BE(nonce.readBigUInt64BE(4) + BigInt(i), 4);
    const d = createDecipheriv(ssl, key, nonce);
    d.setAAD(packet.subarray(0, 4));
    d.setAuthTag(packet.subarray(4 + body.length));
    if (!Buffer.concat([d.update(packet.subarray(4, 4 + body.length)), d.final()]).equals(body)) problems.push(`${ssl} packet ${i}: sealed wrong`);
    const sealed = Buffer.from(packet.subarray(4, 4 + body.length));
    opener.decrypt(sealed, body.length, packet.subarray(4 + body.length));
    if (!sealed.equals(body)) problems.push(`${ssl} packet ${i}: opened wrong`);
  }
  return { problems, sealer, opener };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const addon = createRequire(import.meta.url)(process.argv[2]);
  const problems = ['outletCtl', 'outletNum', 'inletCtl', 'inletNum']
    .filter((n) => typeof addon.layout?.[n]?.LEN !== 'number')
    .map((n) => `layout.${n} has no LEN`);
  problems.push(...gcmAgrees(addon, 'aes-128-gcm', 16).problems, ...gcmAgrees(addon, 'aes-256-gcm', 32).problems);
  if (problems.length) {
    console.error(`addon-smoke: ${process.arch}: ${problems.join('; ')}`);
    process.exit(1);
  }
  console.log(
    `addon-smoke: ${process.arch} node ${process.version}: ${process.argv[2].split('/').slice(-2).join('/')} loads, layout and AES-GCM agree with node:crypto`,
  );
}
