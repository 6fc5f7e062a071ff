// Just enough ELF to tell what a binary is without running it: the section
// table, the exported (dynamic) symbols and the bytes behind a symbol or a
// section. Reads only the parts it needs, through one descriptor.
import fs from 'node:fs';

/** The file is not ELF, or its headers do not hold together. */
export class NotElfError extends Error {}

export interface ElfSection {
  name: string;
  type: number;
  /** Address when loaded. */
  address: bigint;
  offset: number;
  size: number;
  /** sh_link: for a symbol table, the index of its string table. */
  link: number;
}

export interface ElfSymbol {
  value: bigint;
  size: number;
  /** Index of the section that holds the symbol. */
  sectionIndex: number;
}

const SHT_NOBITS = 8;
const SHT_DYNSYM = 11;
const SHN_UNDEF = 0;
const SHN_LORESERVE = 0xff00;
/** No real section or symbol table comes near this: a larger one means a corrupt file. */
const MAX_TABLE_BYTES = 64 * 1024 * 1024;

/** An ELF file opened for reading; close it when done. */
export class ElfFile {
  readonly sections: ElfSection[];
  private symbols: Map<string, ElfSymbol> | null = null;

  private constructor(
    private readonly fd: number,
    private readonly is64: boolean,
    private readonly littleEndian: boolean,
    sectionHeaders: Buffer,
    sectionCount: number,
    sectionEntrySize: number,
    namesIndex: number,
  ) {
    const raw: Array<Omit<ElfSection, 'name'> & { nameOffset: number }> = [];
    for (let i = 0; i < sectionCount; i++) {
      const at = i * sectionEntrySize;
      raw.push(
        this.is64
          ? {
              nameOffset: this.u32(sectionHeaders, at),
              type: this.u32(sectionHeaders, at + 4),
              address: this.u64(sectionHeaders, at + 16),
              offset: Number(this.u64(sectionHeaders, at + 24)),
              size: Number(this.u64(sectionHeaders, at + 32)),
              link: this.u32(sectionHeaders, at + 40),
            }
          : {
              nameOffset: this.u32(sectionHeaders, at),
              type: this.u32(sectionHeaders, at + 4),
              address: BigInt(this.u32(sectionHeaders, at + 12)),
              offset: this.u32(sectionHeaders, at + 16),
              size: this.u32(sectionHeaders, at + 20),
              link: this.u32(sectionHeaders, at + 24),
            },
      );
    }
    const namesSection = raw[namesIndex];
    const names =
      namesSection && namesSection.type !== SHT_NOBITS
        ? this.read(namesSection.offset, namesSection.size)
        : Buffer.alloc(0);
    this.sections = raw.map(({ nameOffset, ...rest }) => ({
      name: cString(names, nameOffset),
      ...rest,
    }));
  }

  /** Opens `file`; throws NotElfError for anything that is not ELF, or an fs error. */
  static open(file: string): ElfFile {
    const fd = fs.openSync(file, 'r');
    try {
      const ident = Buffer.alloc(64);
      const got = fs.readSync(fd, ident, 0, 64, 0);
      if (got < 52 || ident.readUInt32BE(0) !== 0x7f454c46) {
        throw new NotElfError(`${file} is not an ELF file`);
      }
      const elfClass = ident[4];
      const data = ident[5];
      if ((elfClass !== 1 && elfClass !== 2) || (data !== 1 && data !== 2)) {
        throw new NotElfError(`${file} has an unknown ELF class or byte order`);
      }
      const is64 = elfClass === 2;
      const le = data === 1;
      const u16 = (at: number): number => (le ? ident.readUInt16LE(at) : ident.readUInt16BE(at));
      const u32 = (at: number): number => (le ? ident.readUInt32LE(at) : ident.readUInt32BE(at));
      const u64 = (at: number): number =>
        Number(le ? ident.readBigUInt64LE(at) : ident.readBigUInt64BE(at));
      const shoff = is64 ? u64(0x28) : u32(0x20);
      const shentsize = u16(is64 ? 0x3a : 0x2e);
      const shnum = u16(is64 ? 0x3c : 0x30);
      const shstrndx = u16(is64 ? 0x3e : 0x32);
      const minEntry = is64 ? 64 : 40;
      if (shoff === 0 || shnum === 0) {
        // Stripped of section headers (sstrip): nothing we can look up.
        return new ElfFile(fd, is64, le, Buffer.alloc(0), 0, minEntry, 0);
      }
      if (shentsize < minEntry || shnum * shentsize > MAX_TABLE_BYTES) {
        throw new NotElfError(`${file} has an invalid section header table`);
      }
      const headers = Buffer.alloc(shnum * shentsize);
      if (fs.readSync(fd, headers, 0, headers.length, shoff) !== headers.length) {
        throw new NotElfError(`${file} is truncated (section headers)`);
      }
      return new ElfFile(fd, is64, le, headers, shnum, shentsize, shstrndx);
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  section(name: string): ElfSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  /**
   * A defined, exported symbol by name: the first in `.dynsym`, as in
   * dynamicSymbols(). Found by comparing bytes in place: a binary that
   * exports tens of thousands of symbols (node: 74k) is asked about one or
   * two (`Py_Initialize`): building every name took 175 ms here, in the
   * middle of the inspector's process scan; one lookup takes 10-30 ms.
   */
  dynamicSymbol(name: string): ElfSymbol | undefined {
    if (this.symbols) return this.symbols.get(name);
    const table = this.dynamicTable();
    if (!table || name === '') return undefined;
    const { bytes, names, entry } = table;
    const wanted = Buffer.from(name, 'latin1');
    const length = wanted.length;
    search: for (let at = entry; at + entry <= bytes.length; at += entry) {
      const nameOffset = this.u32(bytes, at);
      const end = nameOffset + length;
      // As cString reads it: up to a NUL or the end of the table.
      if (end > names.length || (end < names.length && names[end] !== 0)) continue;
      for (let i = 0; i < length; i++) {
        if (names[nameOffset + i] !== wanted[i]) continue search;
      }
      const symbol = this.definedSymbol(bytes, at);
      if (symbol) return symbol;
    }
    return undefined;
  }

  /** Defined symbols of `.dynsym` (what the binary exports), by name. */
  dynamicSymbols(): Map<string, ElfSymbol> {
    if (this.symbols) return this.symbols;
    const symbols = new Map<string, ElfSymbol>();
    this.symbols = symbols;
    const table = this.dynamicTable();
    if (!table) return symbols;
    const { bytes, names, entry } = table;
    for (let at = entry; at + entry <= bytes.length; at += entry) {
      const symbol = this.definedSymbol(bytes, at);
      if (!symbol) continue;
      const name = cString(names, this.u32(bytes, at));
      if (name && !symbols.has(name)) symbols.set(name, symbol);
    }
    return symbols;
  }

  private dynamic: { bytes: Buffer; names: Buffer; entry: number } | null | undefined;

  /** The bytes of `.dynsym` and of its string table; null when there is none. */
  private dynamicTable(): { bytes: Buffer; names: Buffer; entry: number } | null {
    if (this.dynamic !== undefined) return this.dynamic;
    const table = this.sections.find((s) => s.type === SHT_DYNSYM);
    const strings = table ? this.sections[table.link] : undefined;
    this.dynamic =
      table && strings
        ? {
            bytes: this.read(table.offset, table.size),
            names: this.read(strings.offset, strings.size),
            entry: this.is64 ? 24 : 16,
          }
        : null;
    return this.dynamic;
  }

  /** The symbol whose entry starts at `at` in `.dynsym`, unless it is undefined here. */
  private definedSymbol(bytes: Buffer, at: number): ElfSymbol | undefined {
    const sectionIndex = this.is64 ? this.u16(bytes, at + 6) : this.u16(bytes, at + 14);
    if (sectionIndex === SHN_UNDEF || sectionIndex >= SHN_LORESERVE) return undefined;
    const value = this.is64 ? this.u64(bytes, at + 8) : BigInt(this.u32(bytes, at + 4));
    const size = this.is64 ? Number(this.u64(bytes, at + 16)) : this.u32(bytes, at + 8);
    return { value, size, sectionIndex };
  }

  /** The file bytes of a symbol's initial value, or null when it has none (e.g. .bss). */
  symbolBytes(symbol: ElfSymbol): Buffer | null {
    const section = this.sections[symbol.sectionIndex];
    if (!section || section.type === SHT_NOBITS || symbol.size === 0) return null;
    const delta = symbol.value - section.address;
    if (delta < 0n || delta + BigInt(symbol.size) > BigInt(section.size)) return null;
    return this.read(section.offset + Number(delta), symbol.size);
  }

  /** The file bytes of a section (empty for .bss-like sections). */
  sectionBytes(section: ElfSection): Buffer {
    return section.type === SHT_NOBITS ? Buffer.alloc(0) : this.read(section.offset, section.size);
  }

  /** An unsigned integer of `bytes.length` (1, 2, 4 or 8) in the file's byte order. */
  unsigned(bytes: Buffer): bigint {
    switch (bytes.length) {
      case 1:
        return BigInt(bytes[0] ?? 0);
      case 2:
        return BigInt(this.u16(bytes, 0));
      case 4:
        return BigInt(this.u32(bytes, 0));
      case 8:
        return this.u64(bytes, 0);
      default:
        throw new RangeError(`no ${bytes.length}-byte integers in ELF`);
    }
  }

  private read(offset: number, length: number): Buffer {
    if (length < 0 || length > MAX_TABLE_BYTES) {
      throw new NotElfError(`ELF region of ${length} bytes is out of range`);
    }
    const buf = Buffer.alloc(length);
    const got = fs.readSync(this.fd, buf, 0, length, offset);
    return got === length ? buf : buf.subarray(0, got);
  }

  private u16(b: Buffer, at: number): number {
    return this.littleEndian ? b.readUInt16LE(at) : b.readUInt16BE(at);
  }
  private u32(b: Buffer, at: number): number {
    return this.littleEndian ? b.readUInt32LE(at) : b.readUInt32BE(at);
  }
  private u64(b: Buffer, at: number): bigint {
    return this.littleEndian ? b.readBigUInt64LE(at) : b.readBigUInt64BE(at);
  }
}

function cString(bytes: Buffer, offset: number): string {
  if (offset >= bytes.length) return '';
  const end = bytes.indexOf(0, offset);
  return bytes.toString('latin1', offset, end < 0 ? bytes.length : end);
}
