/**
 * A restricted unpickler for the `data.pkl` inside a torch.save archive: pickle protocol 2 (what
 * torch.save writes by default) and the protocol 3–5 opcodes that can carry the same data
 * (STACK_GLOBAL, MEMOIZE, FRAME, the short and 8-byte string forms).
 *
 * Safety, by construction rather than by filtering:
 * - the dispatcher is one fixed switch over opcode bytes; an opcode that is not a case here
 *   (INST, OBJ, NEWOBJ, EXT*, PERSID, protocol-0 text forms, sets, out-of-band buffers, …) is
 *   refused by name, and an unknown byte is refused as unknown;
 * - globals resolve only through the fixed allow-list in torch-globals.ts, and REDUCE only
 *   dispatches on the role an allowed global was given; nothing from the file ever names or
 *   reaches a JS function, property or constructor;
 * - BUILD is accepted only on an OrderedDict with a dict of attributes (torch's `_metadata`), kept
 *   as data; APPEND(S) only on lists, SETITEM(S) only on dicts, with scalar keys;
 * - every length is checked against the bytes that remain before anything is allocated, MARK
 *   nesting is bounded, the loop is iterative (each opcode consumes at least one byte, so the work
 *   is linear in the file), and values are never walked recursively here.
 * Semantics follow CPython's Lib/pickle.py (the Python unpickler) and its `pickletools` docs.
 */
import { PyDict, PyFloat, PyList, PyTuple, isKey, quote, typeName, type PyStorage, type PyValue } from './py-values.js';
import { PickleRefused, callGlobal, persistentLoad, resolveGlobal } from './torch-globals.js';

export class UnpickleError extends Error {
  override name = 'UnpickleError';
}

/** Most MARKs open at once (a state_dict nests 3 deep; a checkpoint a few more). */
export const MAX_MARK_DEPTH = 100;
/** Most attributes BUILD may set on an OrderedDict (torch sets one, `_metadata`). */
const MAX_BUILD_KEYS = 16;
/** A GLOBAL line longer than this is not a Python module or name. */
const MAX_LINE = 1024;

const WHY = 'a state_dict holds only tensors and containers';

/** Every pickle opcode by byte, so a refusal can name what it refused. */
const OPCODE_NAMES = new Map<number, string>([
  [0x28, 'MARK'], [0x2e, 'STOP'], [0x30, 'POP'], [0x31, 'POP_MARK'], [0x32, 'DUP'], [0x46, 'FLOAT'],
  [0x49, 'INT'], [0x4a, 'BININT'], [0x4b, 'BININT1'], [0x4c, 'LONG'], [0x4d, 'BININT2'], [0x4e, 'NONE'],
  [0x50, 'PERSID'], [0x51, 'BINPERSID'], [0x52, 'REDUCE'], [0x53, 'STRING'], [0x54, 'BINSTRING'],
  [0x55, 'SHORT_BINSTRING'], [0x56, 'UNICODE'], [0x58, 'BINUNICODE'], [0x61, 'APPEND'], [0x62, 'BUILD'],
  [0x63, 'GLOBAL'], [0x64, 'DICT'], [0x7d, 'EMPTY_DICT'], [0x65, 'APPENDS'], [0x67, 'GET'], [0x68, 'BINGET'],
  [0x69, 'INST'], [0x6a, 'LONG_BINGET'], [0x6c, 'LIST'], [0x5d, 'EMPTY_LIST'], [0x6f, 'OBJ'], [0x70, 'PUT'],
  [0x71, 'BINPUT'], [0x72, 'LONG_BINPUT'], [0x73, 'SETITEM'], [0x74, 'TUPLE'], [0x29, 'EMPTY_TUPLE'],
  [0x75, 'SETITEMS'], [0x47, 'BINFLOAT'], [0x80, 'PROTO'], [0x81, 'NEWOBJ'], [0x82, 'EXT1'], [0x83, 'EXT2'],
  [0x84, 'EXT4'], [0x85, 'TUPLE1'], [0x86, 'TUPLE2'], [0x87, 'TUPLE3'], [0x88, 'NEWTRUE'], [0x89, 'NEWFALSE'],
  [0x8a, 'LONG1'], [0x8b, 'LONG4'], [0x42, 'BINBYTES'], [0x43, 'SHORT_BINBYTES'], [0x8c, 'SHORT_BINUNICODE'],
  [0x8d, 'BINUNICODE8'], [0x8e, 'BINBYTES8'], [0x8f, 'EMPTY_SET'], [0x90, 'ADDITEMS'], [0x91, 'FROZENSET'],
  [0x92, 'NEWOBJ_EX'], [0x93, 'STACK_GLOBAL'], [0x94, 'MEMOIZE'], [0x95, 'FRAME'], [0x96, 'BYTEARRAY8'],
  [0x97, 'NEXT_BUFFER'], [0x98, 'READONLY_BUFFER'],
]);

/** Why a known opcode is refused (the default: protocol-0/1 forms torch.save never writes). */
function refusalReason(name: string): string {
  switch (name) {
    case 'INST':
    case 'OBJ':
    case 'NEWOBJ':
    case 'NEWOBJ_EX':
      return 'it builds an arbitrary object';
    case 'EXT1':
    case 'EXT2':
    case 'EXT4':
      return 'it names a global through the extension registry';
    case 'PERSID':
      return 'torch.save writes storage ids with BINPERSID';
    case 'NEXT_BUFFER':
    case 'READONLY_BUFFER':
    case 'BYTEARRAY8':
      return 'out-of-band and mutable buffers are not part of a state_dict';
    case 'EMPTY_SET':
    case 'ADDITEMS':
    case 'FROZENSET':
      return 'sets are not part of a state_dict';
    default:
      return 'a protocol-0/1 opcode torch.save does not write';
  }
}

/**
 * Run the restricted machine over `bytes` and return the pickled value. `source` names the file in
 * errors. Storages are returned by key, as torch's persistent ids named them.
 */
export function unpickle(bytes: Uint8Array, source = 'pickle'): { value: PyValue; storages: Map<string, PyStorage> } {
  const n = bytes.length;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const storages = new Map<string, PyStorage>();
  const memo = new Map<number, PyValue>();
  let stack: PyValue[] = [];
  const metastack: PyValue[][] = [];
  let pos = 0;
  let opAt = 0;
  let opName = '';

  const fail = (why: string): never => {
    throw new UnpickleError(`kdet.pth: ${source}: .pth pickle: ${why} [${opName || 'opcode'} at byte ${opAt}]`);
  };
  /** Make sure `k` more bytes exist before reading them. */
  const need = (k: number | bigint, what: string): number => {
    if (typeof k === 'number' ? k > n - pos : k > BigInt(n - pos)) fail(`${what} needs ${k} bytes but only ${n - pos} remain (truncated or a hostile length)`);
    return Number(k);
  };
  const take = (k: number): Uint8Array => {
    const b = bytes.subarray(pos, pos + k);
    pos += k;
    return b;
  };
  const text = (b: Uint8Array): string => {
    try {
      return utf8.decode(b);
    } catch {
      return fail('string is not valid UTF-8');
    }
  };
  const line = (): string => {
    const end = bytes.subarray(pos, Math.min(n, pos + MAX_LINE)).indexOf(0x0a);
    if (end < 0) fail(n - pos < MAX_LINE ? 'line runs past the end (truncated)' : `line longer than ${MAX_LINE} bytes`);
    const s = text(take(end));
    pos++; // the newline
    return s;
  };
  const pop = (): PyValue => {
    if (stack.length === 0) fail('stack underflow');
    return stack.pop()!;
  };
  const top = (): PyValue => {
    if (stack.length === 0) fail('stack underflow');
    return stack[stack.length - 1]!;
  };
  const popMark = (): PyValue[] => {
    const items = stack;
    const outer = metastack.pop();
    if (!outer) fail('no MARK to pop to');
    stack = outer!;
    return items;
  };
  const push = (v: PyValue) => stack.push(v);
  /** Python ints: exact JS numbers where they fit, bigints beyond. */
  const int = (v: bigint): number | bigint => (v >= -BigInt(Number.MAX_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
  const memoGet = (i: number) => {
    if (!memo.has(i)) fail(`memo miss: index ${i} was never stored`);
    push(memo.get(i)!);
  };
  const setItems = (dict: PyValue, items: PyValue[]) => {
    if (!(dict instanceof PyDict)) fail(`${opName} on a ${typeName(dict)} is not allowed (only dicts take items)`);
    if (items.length % 2) fail(`${opName} with an odd number of values`);
    for (let i = 0; i < items.length; i += 2) {
      const k = items[i]!;
      if (!isKey(k)) fail(`dict key of type ${typeName(k)} is not allowed (${WHY})`);
      (dict as PyDict).map.set(k as string, items[i + 1]!);
    }
  };
  const append = (list: PyValue, items: PyValue[]) => {
    if (!(list instanceof PyList)) fail(`${opName} on a ${typeName(list)} is not allowed (only lists take items)`);
    for (const v of items) (list as PyList).items.push(v);
  };

  for (;;) {
    if (pos >= n) {
      opAt = pos;
      opName = '';
      fail('the pickle ends without STOP (truncated)');
    }
    opAt = pos;
    const op = bytes[pos++]!;
    opName = OPCODE_NAMES.get(op) ?? '';
    try {
      switch (op) {
        case 0x80: {
          // PROTO
          need(1, 'PROTO');
          const v = bytes[pos++]!;
          if (v < 2 || v > 5) fail(`pickle protocol ${v} is not accepted (torch.save writes 2; kdet reads 2 to 5)`);
          break;
        }
        case 0x95: // FRAME: a length prefix for the opcodes that follow; only checked.
          need(8, 'FRAME');
          pos += 8;
          need(view.getBigUint64(pos - 8, true), 'FRAME');
          break;
        case 0x2e: // STOP
          if (metastack.length || stack.length !== 1) fail(`STOP with ${stack.length} values on the stack and ${metastack.length} MARKs open`);
          return { value: stack[0]!, storages };
        case 0x28: // MARK
          if (metastack.length >= MAX_MARK_DEPTH) fail(`nesting deeper than ${MAX_MARK_DEPTH} MARKs (${WHY})`);
          metastack.push(stack);
          stack = [];
          break;
        case 0x30: // POP: the top value, or (as CPython) the innermost MARK when the stack is empty
          if (stack.length) stack.pop();
          else popMark();
          break;
        case 0x31: // POP_MARK
          popMark();
          break;
        case 0x32: // DUP
          push(top());
          break;
        case 0x71: // BINPUT
          need(1, 'BINPUT');
          memo.set(bytes[pos++]!, top());
          break;
        case 0x72: // LONG_BINPUT
          need(4, 'LONG_BINPUT');
          memo.set(view.getUint32(pos, true), top());
          pos += 4;
          break;
        case 0x94: // MEMOIZE: the next index is the memo's size, as in CPython
          memo.set(memo.size, top());
          break;
        case 0x68: // BINGET
          need(1, 'BINGET');
          memoGet(bytes[pos++]!);
          break;
        case 0x6a: // LONG_BINGET
          need(4, 'LONG_BINGET');
          memoGet(view.getUint32(pos, true));
          pos += 4;
          break;
        case 0x4e: // NONE
          push(null);
          break;
        case 0x88: // NEWTRUE
          push(true);
          break;
        case 0x89: // NEWFALSE
          push(false);
          break;
        case 0x4a: // BININT
          need(4, 'BININT');
          push(view.getInt32(pos, true));
          pos += 4;
          break;
        case 0x4b: // BININT1
          need(1, 'BININT1');
          push(bytes[pos++]!);
          break;
        case 0x4d: // BININT2
          need(2, 'BININT2');
          push(view.getUint16(pos, true));
          pos += 2;
          break;
        case 0x8a: {
          // LONG1: little-endian two's complement; a state_dict's ints fit in 8 bytes.
          need(1, 'LONG1');
          const k = bytes[pos++]!;
          if (k > 8) fail(`LONG1 of ${k} bytes is too large for a state_dict`);
          need(k, 'LONG1');
          let v = 0n;
          for (let i = k - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[pos + i]!);
          if (k > 0 && bytes[pos + k - 1]! & 0x80) v -= 1n << BigInt(8 * k);
          pos += k;
          push(int(v));
          break;
        }
        case 0x47: // BINFLOAT: big-endian double
          need(8, 'BINFLOAT');
          push(new PyFloat(view.getFloat64(pos, false)));
          pos += 8;
          break;
        case 0x58: // BINUNICODE
          need(4, 'BINUNICODE');
          pos += 4;
          push(text(take(need(view.getUint32(pos - 4, true), 'BINUNICODE'))));
          break;
        case 0x8c: // SHORT_BINUNICODE
          need(1, 'SHORT_BINUNICODE');
          pos += 1;
          push(text(take(need(bytes[pos - 1]!, 'SHORT_BINUNICODE'))));
          break;
        case 0x8d: // BINUNICODE8
          need(8, 'BINUNICODE8');
          pos += 8;
          push(text(take(need(view.getBigUint64(pos - 8, true), 'BINUNICODE8'))));
          break;
        case 0x43: // SHORT_BINBYTES
          need(1, 'SHORT_BINBYTES');
          pos += 1;
          push(take(need(bytes[pos - 1]!, 'SHORT_BINBYTES')).slice());
          break;
        case 0x42: // BINBYTES
          need(4, 'BINBYTES');
          pos += 4;
          push(take(need(view.getUint32(pos - 4, true), 'BINBYTES')).slice());
          break;
        case 0x8e: // BINBYTES8
          need(8, 'BINBYTES8');
          pos += 8;
          push(take(need(view.getBigUint64(pos - 8, true), 'BINBYTES8')).slice());
          break;
        case 0x29: // EMPTY_TUPLE
          push(new PyTuple([]));
          break;
        case 0x74: // TUPLE
          push(new PyTuple(popMark()));
          break;
        case 0x85: // TUPLE1
          push(new PyTuple([pop()]));
          break;
        case 0x86: {
          // TUPLE2
          const b = pop();
          push(new PyTuple([pop(), b]));
          break;
        }
        case 0x87: {
          // TUPLE3
          const c = pop();
          const b = pop();
          push(new PyTuple([pop(), b, c]));
          break;
        }
        case 0x5d: // EMPTY_LIST
          push(new PyList());
          break;
        case 0x61: {
          // APPEND
          const v = pop();
          append(top(), [v]);
          break;
        }
        case 0x65: {
          // APPENDS
          const items = popMark();
          append(top(), items);
          break;
        }
        case 0x7d: // EMPTY_DICT
          push(new PyDict(false));
          break;
        case 0x73: {
          // SETITEM
          const v = pop();
          const k = pop();
          setItems(top(), [k, v]);
          break;
        }
        case 0x75: {
          // SETITEMS
          const items = popMark();
          setItems(top(), items);
          break;
        }
        case 0x63: {
          // GLOBAL: "module\nname\n", resolved only through the allow-list
          const module = line();
          push(resolveGlobal(module, line()));
          break;
        }
        case 0x93: {
          // STACK_GLOBAL
          const name = pop();
          const module = pop();
          if (typeof module !== 'string' || typeof name !== 'string') fail(`STACK_GLOBAL of a ${typeName(module)} and a ${typeName(name)}, not two strings`);
          push(resolveGlobal(module as string, name as string));
          break;
        }
        case 0x51: // BINPERSID: a storage reference
          push(persistentLoad(pop(), storages));
          break;
        case 0x52: {
          // REDUCE: only an allowed global's fixed meaning
          const args = pop();
          push(callGlobal(pop(), args));
          break;
        }
        case 0x62: {
          // BUILD: torch sets `_metadata` on the state_dict's OrderedDict; kept as data.
          const state = pop();
          const inst = top();
          if (!(inst instanceof PyDict) || !inst.ordered) fail(`BUILD on a ${typeName(inst)} is not allowed (${WHY})`);
          // torch's state is {'_metadata': …}: a few string keys. The bound keeps a hostile file
          // from repeating BUILD over one huge memoized dict (quadratic work).
          if (!(state instanceof PyDict) || state.map.size > MAX_BUILD_KEYS || [...state.map.keys()].some((k) => typeof k !== 'string')) {
            fail(`BUILD with a ${state instanceof PyDict ? `dict of ${state.map.size} items as` : typeName(state)} state is not allowed (torch sets a few named attributes)`);
          }
          (inst as PyDict).attrs = state as PyDict;
          break;
        }
        case 0x69: {
          // INST names its class inline: say which, without resolving it.
          let what = '';
          try {
            what = ` (${quote(line())}.${quote(line())})`;
          } catch {
            // a malformed INST: refuse it all the same
          }
          fail(`opcode INST${what} is not allowed (${refusalReason('INST')}; ${WHY})`);
          break;
        }
        default:
          if (opName) fail(`opcode ${opName} is not allowed (${refusalReason(opName)}; ${WHY})`);
          fail(`unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
      }
    } catch (e) {
      if (e instanceof PickleRefused) fail(e.message);
      throw e;
    }
  }
}
