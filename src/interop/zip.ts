/**
 * A minimal ZIP reader and writer, for the archives `torch.save` writes (PyTorch's
 * caffe2/serialize/inline_container, on miniz): every record STORED (not compressed), its data
 * aligned to 64 bytes by padding the local header's extra field (id 'FB'), sizes and CRC in a
 * data descriptor after the data and in the central directory, and (since torch 1.10 or so) a
 * ZIP64 end-of-central-directory record and locator before the classic one even for small files.
 *
 * The reader trusts nothing in the file: every offset and size is checked against the file's
 * length before it is used, 64-bit sizes are checked to fit exactly in a JS number, names must be
 * unique, records may not overlap each other or the central directory, and each record's CRC-32
 * is verified when it is read. DEFLATE (a `.pth` re-zipped by another tool) goes through fflate
 * into a buffer sized from the declared size, so a zip bomb cannot grow past it. Every error
 * names the file and what is wrong.
 */
import { inflateSync } from 'fflate';
import { crc32 } from './crc32.js';

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  /** Offset of the local header. */
  headerOffset: number;
  /** Offset of the (compressed) data, after the local header. */
  dataOffset: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
/** DEFLATE expands at most ~1032:1; anything claiming more is corrupt or a bomb. */
const MAX_DEFLATE_RATIO = 1032;

export class ZipError extends Error {
  override name = 'ZipError';
}

export class ZipReader {
  private readonly byName = new Map<string, ZipEntry>();

  constructor(
    private readonly bytes: Uint8Array,
    readonly source: string,
    readonly entries: readonly ZipEntry[],
  ) {
    for (const e of entries) this.byName.set(e.name, e);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  entry(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  /** A record's bytes (a view into the file for stored records), CRC-checked. */
  read(name: string): Uint8Array {
    const e = this.byName.get(name);
    if (!e) throw new ZipError(`kdet.zip: ${this.source}: no record '${name}' in the archive`);
    const raw = this.bytes.subarray(e.dataOffset, e.dataOffset + e.compressedSize);
    let data: Uint8Array;
    if (e.method === 0) {
      data = raw;
    } else {
      // One byte more than declared: if inflate fills it, the record is larger than it says.
      const out = new Uint8Array(e.size + 1);
      try {
        data = inflateSync(raw, { out });
      } catch (err) {
        throw new ZipError(`kdet.zip: ${this.source}: record '${name}' holds corrupt DEFLATE data (${(err as Error).message})`);
      }
      if (data.length !== e.size) throw new ZipError(`kdet.zip: ${this.source}: record '${name}' inflates to ${data.length > e.size ? 'more than' : data.length} bytes, the directory says ${e.size}`);
    }
    const crc = crc32(data);
    if (crc !== e.crc32) throw new ZipError(`kdet.zip: ${this.source}: record '${name}' fails its CRC-32 check (0x${hex(crc)}, the directory says 0x${hex(e.crc32)}): the file is corrupted`);
    return data;
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}

/** Parse a ZIP archive's directory (records are read lazily with `read`). */
export function readZip(bytes: Uint8Array, source = 'zip data'): ZipReader {
  const bad = (why: string): never => {
    throw new ZipError(`kdet.zip: ${source}: ${why}`);
  };
  const len = bytes.length;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number) => view.getUint16(at, true);
  const u32 = (at: number) => view.getUint32(at, true);
  /** A 64-bit field as an exact JS number, or an error: sizes past 2^53 cannot be real. */
  const u64 = (at: number, what: string): number => {
    const v = view.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) bad(`${what} ${v} overflows`);
    return Number(v);
  };

  if (len < EOCD_SIZE) bad(`${len} bytes is too short to be a zip archive`);
  // The end-of-central-directory record sits at the end, followed only by its comment. Search
  // backwards, and accept a signature only where the comment length reaches exactly to the end.
  let eocd = -1;
  for (let p = len - EOCD_SIZE; p >= Math.max(0, len - EOCD_SIZE - MAX_COMMENT); p--) {
    if (u32(p) === SIG_EOCD && p + EOCD_SIZE + u16(p + 20) === len) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) {
    if (u32(0) === SIG_LOCAL) bad('no end-of-central-directory record: the archive is truncated');
    bad('not a zip archive (no end-of-central-directory record)');
  }
  if (u16(eocd + 4) !== 0 || u16(eocd + 6) !== 0) bad('multi-disk archives are not supported');
  let count = u16(eocd + 10);
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);
  if (u16(eocd + 8) !== count) bad(`end record: ${u16(eocd + 8)} entries on this disk but ${count} in all`);
  // Where the central directory must end: the ZIP64 end record if there is one, else the EOCD.
  let cdLimit = eocd;
  if (eocd >= 20 && u32(eocd - 20) === SIG_ZIP64_LOCATOR) {
    const at = u64(eocd - 20 + 8, 'ZIP64 end record offset');
    if (at + 56 > eocd - 20) bad(`ZIP64 end record at byte ${at} lies outside the file`);
    if (u32(at) !== SIG_ZIP64_EOCD) bad(`bad ZIP64 end record signature at byte ${at}`);
    const count64 = u64(at + 32, 'ZIP64 entry count');
    const size64 = u64(at + 40, 'ZIP64 central directory size');
    const offset64 = u64(at + 48, 'ZIP64 central directory offset');
    // The classic fields hold either the same value or the "see ZIP64" sentinel.
    if ((count !== 0xffff && count !== count64) || (cdSize !== 0xffffffff && cdSize !== size64) || (cdOffset !== 0xffffffff && cdOffset !== offset64)) {
      bad('the end record and the ZIP64 end record disagree');
    }
    count = count64;
    cdSize = size64;
    cdOffset = offset64;
    cdLimit = at;
  } else if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    bad('the end record points to a ZIP64 record that is missing (truncated archive?)');
  }
  const cdEnd = cdOffset + cdSize;
  if (cdEnd > cdLimit) bad(`central directory (bytes ${cdOffset}..${cdEnd}) lies outside the file's ${len} bytes: the archive is truncated or corrupted`);
  // Each central entry takes at least 46 bytes, so the count is bounded by the directory's size.
  if (count * 46 > cdSize) bad(`end record declares ${count} entries, more than a ${cdSize}-byte central directory can hold`);

  const decoder = new TextDecoder('utf-8', { fatal: true });
  const entries: ZipEntry[] = [];
  const seen = new Set<string>();
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdEnd) bad(`central directory ends inside entry ${i}`);
    if (u32(p) !== SIG_CENTRAL) bad(`bad central directory signature at byte ${p} (entry ${i}): the archive is corrupted`);
    const flags = u16(p + 8);
    const method = u16(p + 10);
    const crc = u32(p + 16);
    let csize = u32(p + 20);
    let size = u32(p + 24);
    const nameLen = u16(p + 28);
    const extraLen = u16(p + 30);
    const commentLen = u16(p + 32);
    let headerOffset = u32(p + 42);
    const next = p + 46 + nameLen + extraLen + commentLen;
    if (next > cdEnd) bad(`central directory entry ${i} runs past the directory's end`);
    let name: string;
    try {
      name = decoder.decode(bytes.subarray(p + 46, p + 46 + nameLen));
    } catch {
      return bad(`entry ${i} has a name that is not UTF-8`);
    }
    // ZIP64 extended information: 8-byte values, in this order, for each field at its sentinel.
    if (size === 0xffffffff || csize === 0xffffffff || headerOffset === 0xffffffff) {
      let q = p + 46 + nameLen;
      const extraEnd = q + extraLen;
      let found = false;
      while (q + 4 <= extraEnd) {
        const id = u16(q);
        const n = u16(q + 2);
        if (q + 4 + n > extraEnd) bad(`entry '${name}': extra field runs past its end`);
        if (id === 0x0001) {
          let r = q + 4;
          const take = (what: string): number => {
            if (r + 8 > q + 4 + n) bad(`entry '${name}': ZIP64 extra field is too short for its ${what}`);
            const v = u64(r, `entry '${name}': ${what}`);
            r += 8;
            return v;
          };
          if (size === 0xffffffff) size = take('size');
          if (csize === 0xffffffff) csize = take('compressed size');
          if (headerOffset === 0xffffffff) headerOffset = take('header offset');
          found = true;
          break;
        }
        q += 4 + n;
      }
      if (!found) bad(`entry '${name}': sizes point to a ZIP64 extra field that is missing`);
    }
    if (flags & 0x0001) bad(`entry '${name}' is encrypted`);
    if (method !== 0 && method !== 8) bad(`entry '${name}' uses compression method ${method} (kdet reads stored and deflate records)`);
    if (method === 0 && csize !== size) bad(`entry '${name}' is stored but its sizes differ (${csize} vs ${size})`);
    if (method === 8 && size > csize * MAX_DEFLATE_RATIO + 1024) bad(`entry '${name}' declares ${size} bytes from ${csize} compressed, more than DEFLATE can expand`);
    if (seen.has(name)) bad(`duplicate record name '${name}'`);
    seen.add(name);
    entries.push({ name, method, crc32: crc, compressedSize: csize, size, headerOffset, dataOffset: -1 });
    p = next;
  }
  if (p !== cdEnd) bad(`central directory holds ${cdEnd - p} bytes after its ${count} entries`);

  // Local headers: each must be where the directory says, name the same record, and its data
  // must end before the next record (or the central directory) starts.
  const encoder = new TextEncoder();
  const byOffset = [...entries].sort((a, b) => a.headerOffset - b.headerOffset);
  for (let k = 0; k < byOffset.length; k++) {
    const e = byOffset[k]!;
    const at = e.headerOffset;
    if (at + 30 > cdOffset) bad(`record '${e.name}': local header at byte ${at} lies outside the file's data (central directory at ${cdOffset})`);
    if (u32(at) !== SIG_LOCAL) bad(`record '${e.name}': bad local header signature at byte ${at}`);
    const nameLen = u16(at + 26);
    const extraLen = u16(at + 28);
    const localName = bytes.subarray(at + 30, at + 30 + nameLen);
    const want = encoder.encode(e.name);
    if (at + 30 + nameLen > cdOffset || localName.length !== want.length || localName.some((b, j) => b !== want[j])) {
      bad(`record '${e.name}': its local header names another record`);
    }
    e.dataOffset = at + 30 + nameLen + extraLen;
    const end = e.dataOffset + e.compressedSize;
    const limit = k + 1 < byOffset.length ? byOffset[k + 1]!.headerOffset : cdOffset;
    if (end > limit) {
      bad(limit === cdOffset && end > len ? `record '${e.name}' (bytes ${e.dataOffset}..${end}) runs past the end of the file (${len} bytes): truncated` : `record '${e.name}' (bytes ${e.dataOffset}..${end}) overlaps the ${limit === cdOffset ? 'central directory' : `record '${byOffset[k + 1]!.name}'`}`);
    }
  }
  return new ZipReader(bytes, source, entries);
}

export interface ZipWriteEntry {
  name: string;
  data: Uint8Array;
}

/** Extra-field id torch uses for its alignment padding ('FB', for "file buffer"). */
const PAD_ID = 0x4246;

/**
 * Write a STORED archive as torch.save lays it out: each record's data starts at a multiple of
 * `align` bytes (padding in an 'FB' extra field), CRC and sizes in the local header (no data
 * descriptor: simpler, and read the same by miniz and Python's zipfile). Classic (non-ZIP64)
 * records, so the archive must stay under 4 GiB and 65535 records.
 */
export function writeZip(entries: readonly ZipWriteEntry[], align = 64): Uint8Array {
  const enc = new TextEncoder();
  const names = entries.map((e) => enc.encode(e.name));
  if (new Set(entries.map((e) => e.name)).size !== entries.length) throw new ZipError('kdet.zip: duplicate record names');
  if (entries.length >= 0xffff) throw new ZipError(`kdet.zip: ${entries.length} records is more than a zip without ZIP64 holds`);
  // Lay out the local records first.
  const layout: { at: number; pad: number; data: number }[] = [];
  let pos = 0;
  entries.forEach((e, i) => {
    const headerEnd = pos + 30 + names[i]!.length;
    const pad = (align - ((headerEnd + 4) % align)) % align;
    // An extra field needs 4 bytes of header before its padding.
    const extra = 4 + pad;
    layout.push({ at: pos, pad, data: headerEnd + extra });
    pos = headerEnd + extra + e.data.length;
  });
  const cdOffset = pos;
  const cdSize = names.reduce((s, n) => s + 46 + n.length, 0);
  const total = cdOffset + cdSize + EOCD_SIZE;
  if (total > 0xffffffff) throw new ZipError(`kdet.zip: ${total} bytes is more than a zip without ZIP64 holds (4 GiB)`);
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  let cd = cdOffset;
  entries.forEach((e, i) => {
    const { at, pad, data } = layout[i]!;
    const name = names[i]!;
    const crc = crc32(e.data);
    // Local header: version 2.0, no flags, stored, zero DOS time (as torch writes).
    v.setUint32(at, SIG_LOCAL, true);
    v.setUint16(at + 4, 20, true);
    v.setUint32(at + 14, crc, true);
    v.setUint32(at + 18, e.data.length, true);
    v.setUint32(at + 22, e.data.length, true);
    v.setUint16(at + 26, name.length, true);
    v.setUint16(at + 28, 4 + pad, true);
    out.set(name, at + 30);
    v.setUint16(at + 30 + name.length, PAD_ID, true);
    v.setUint16(at + 32 + name.length, pad, true);
    out.fill(0x5a, at + 34 + name.length, data); // 'Z', torch's padding byte
    out.set(e.data, data);
    // Central directory entry.
    v.setUint32(cd, SIG_CENTRAL, true);
    v.setUint16(cd + 4, 20, true);
    v.setUint16(cd + 6, 20, true);
    v.setUint32(cd + 16, crc, true);
    v.setUint32(cd + 20, e.data.length, true);
    v.setUint32(cd + 24, e.data.length, true);
    v.setUint16(cd + 28, name.length, true);
    v.setUint32(cd + 42, at, true);
    out.set(name, cd + 46);
    cd += 46 + name.length;
  });
  v.setUint32(cd, SIG_EOCD, true);
  v.setUint16(cd + 8, entries.length, true);
  v.setUint16(cd + 10, entries.length, true);
  v.setUint32(cd + 12, cdSize, true);
  v.setUint32(cd + 16, cdOffset, true);
  return out;
}
