// Loads a built addon (argv[2]) in whatever Node runs this, on whatever CPU,
// and checks it works: its layout, and its AES-GCM against node:crypto (which
// shares no code with it), packet after packet, as in OpenSSH's layout (the
// 4-byte length as additional data, the IV's counter incremented per packet).
// scripts/check-arm64.sh runs it in an arm64 Node under qemu.
import { createDecipheriv, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';

const addon = createRequire(import.meta.url)(process.argv[2]);
const fail = (why) => {
  console.error(`addon-smoke: ${process.arch}: ${why}`);
  process.exit(1);
};
for (const name of ['outletCtl', 'outletNum', 'inletCtl', 'inletNum']) {
  if (typeof addon.layout?.[name]?.LEN !== 'number') fail(`layout.${name} has no LEN`);
}
for (const [ssl, keyLen] of [
  ['aes-128-gcm', 16],
  ['aes-256-gcm', 32],
]) {
  const key = randomBytes(keyLen);
  const iv = randomBytes(12);
  const sealer = new addon.Sealer(ssl, key, iv);
  const opener = new addon.Opener(ssl, key, iv);
  for (let i = 0; i < 3; i++) {
    const body = randomBytes(32 + 16 * i);
    const packet = Buffer.alloc(4 + body.length + 16);
    packet.writeUInt32BE(body.length, 0);
    body.copy(packet, 4);
    sealer.encrypt(packet);
    const nonce = Buffer.from(iv);
    nonce.writeBigUInt64BE(nonce.readBigUInt64BE(4) + BigInt(i), 4);
    const d = createDecipheriv(ssl, key, nonce);
    d.setAAD(packet.subarray(0, 4));
    d.setAuthTag(packet.subarray(4 + body.length));
    if (!Buffer.concat([d.update(packet.subarray(4, 4 + body.length)), d.final()]).equals(body)) fail(`${ssl} packet ${i}: sealed wrong`);
    const sealed = Buffer.from(packet.subarray(4, 4 + body.length));
    opener.decrypt(sealed, body.length, packet.subarray(4 + body.length));
    if (!sealed.equals(body)) fail(`${ssl} packet ${i}: opened wrong`);
  }
}
console.log(
  `addon-smoke: ${process.arch} node ${process.version}: ${process.argv[2].split('/').slice(-2).join('/')} loads, layout and AES-GCM agree with node:crypto`,
);
