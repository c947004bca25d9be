/**
 * The SSH wire format's pieces (RFC 4251 section 5): what reads key blobs,
 * certificates and the agent's answers. A reader throws on a field that runs
 * past the end, naming what it was reading.
 */
export class SshReader {
  pos = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new Error(`truncated ${this.what}`);
  }

  string(): Buffer {
    this.need(4);
    const len = this.buf.readUInt32BE(this.pos);
    this.need(4 + len);
    const out = this.buf.subarray(this.pos + 4, this.pos + 4 + len);
    this.pos += 4 + len;
    return out;
  }

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  u32(): number {
    this.need(4);
    this.pos += 4;
    return this.buf.readUInt32BE(this.pos - 4);
  }

  u64(): bigint {
    this.need(8);
    this.pos += 8;
    return this.buf.readBigUInt64BE(this.pos - 8);
  }
}

/** The key type named inside an SSH public key blob (its first string); lenient: '' for a blob too short to say. */
export function keyTypeOfBlob(blob: Buffer): string {
  if (blob.length < 4) return '';
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}
