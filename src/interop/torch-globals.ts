/**
 * The only globals a `.pth` state_dict may name, and what "calling" each one means. This is the
 * whole of what a pickle can make kdet do: build an empty OrderedDict, describe a tensor as a
 * strided view of a storage, mark one as a Parameter, or name a storage's dtype. Everything else
 * (os.system, builtins.eval, any class) is refused by name before anything happens.
 *
 * The allow-list is a Map keyed by the exact (module, name) pair: a name from the file is never
 * used to look anything up on a JS object, so `__proto__`, `constructor` and the like are just
 * more refused names.
 */
import { PyDict, PyGlobal, PyStorage, PyTensor, PyTuple, quote, typeName, type GlobalRole, type PyValue } from './py-values.js';
import { KNOWN_DTYPES, STORAGE_DTYPES } from './torch-dtypes.js';

export class PickleRefused extends Error {
  override name = 'PickleRefused';
}

const WHY = 'a state_dict holds only tensors and containers';

const ALLOWED = new Map<string, GlobalRole>([
  [JSON.stringify(['collections', 'OrderedDict']), { kind: 'OrderedDict' }],
  [JSON.stringify(['torch._utils', '_rebuild_tensor_v2']), { kind: 'rebuild_tensor_v2' }],
  [JSON.stringify(['torch._utils', '_rebuild_parameter']), { kind: 'rebuild_parameter' }],
  ...[...STORAGE_DTYPES].map(([name, dtype]): [string, GlobalRole] => [JSON.stringify(['torch', name]), { kind: 'storage', dtype }]),
]);

/** Most dimensions a tensor may have (torch allows 64, state_dicts use ≤ 5). */
const MAX_DIMS = 64;

/** GLOBAL / STACK_GLOBAL: an allowed global's role, or a refusal naming it. */
export function resolveGlobal(module: string, name: string): PyGlobal {
  const qualname = `${module}.${name}`;
  const role = ALLOWED.get(JSON.stringify([module, name]));
  if (role) return new PyGlobal(qualname, role);
  if (module === 'torch' && /Storage$/.test(name)) {
    throw new PickleRefused(`unknown storage dtype: 'torch.${quote(name)}' is not supported (kdet reads ${KNOWN_DTYPES})`);
  }
  throw new PickleRefused(`global '${quote(qualname)}' is not allowed (${WHY})`);
}

/**
 * BINPERSID: torch.save's storage reference, the tuple ('storage', storage class, key, location,
 * numel). The same key always yields the same storage, and must always name the same dtype and size.
 */
export function persistentLoad(pid: PyValue, storages: Map<string, PyStorage>): PyStorage {
  if (!(pid instanceof PyTuple) || pid.items.length !== 5) throw new PickleRefused(`persistent id is a ${typeName(pid)}${pid instanceof PyTuple ? ` of ${pid.items.length}` : ''}, not torch's ('storage', type, key, location, numel)`);
  const [tag, type, key, location, numel] = pid.items;
  if (tag !== 'storage') throw new PickleRefused(`persistent id of kind ${typeof tag === 'string' ? `'${quote(tag)}'` : typeName(tag!)} (kdet reads only 'storage')`);
  if (!(type instanceof PyGlobal) || type.role.kind !== 'storage') throw new PickleRefused(`persistent id names ${typeName(type!)} as its storage type, not a torch storage class`);
  if (typeof key !== 'string' || key.length === 0 || key.length > 256 || key.includes('/')) throw new PickleRefused(`persistent id has an invalid storage key (${typeName(key!)})`);
  if (typeof location !== 'string') throw new PickleRefused(`persistent id's location is a ${typeName(location!)}, not a str`);
  if (typeof numel !== 'number' || numel < 0) throw new PickleRefused(`storage '${quote(key)}': size ${typeof numel === 'number' || typeof numel === 'bigint' ? numel : `a ${typeName(numel!)}`} is not a valid element count`);
  const dtype = type.role.dtype;
  const known = storages.get(key);
  if (known) {
    if (known.dtype !== dtype || known.numel !== numel) throw new PickleRefused(`storage '${quote(key)}' is named as ${known.numel} ${known.dtype} and as ${numel} ${dtype}`);
    return known;
  }
  const s = new PyStorage(key, dtype, numel, location);
  storages.set(key, s);
  return s;
}

/** REDUCE: apply an allowed global to its argument tuple. A fixed switch; nothing else is callable. */
export function callGlobal(fn: PyValue, args: PyValue): PyValue {
  if (!(fn instanceof PyGlobal)) throw new PickleRefused(`REDUCE on a ${typeName(fn)} is not allowed (only torch's tensor rebuild and OrderedDict are callable)`);
  if (!(args instanceof PyTuple)) throw new PickleRefused(`REDUCE of '${fn.qualname}' with a ${typeName(args)} of arguments, not a tuple`);
  const a = args.items;
  switch (fn.role.kind) {
    case 'OrderedDict':
      // OrderedDict pickles as REDUCE(OrderedDict, ()) followed by SETITEMS; never with arguments.
      if (a.length !== 0) throw new PickleRefused(`collections.OrderedDict called with ${a.length} arguments (torch.save passes none)`);
      return new PyDict(true);
    case 'rebuild_tensor_v2':
      return rebuildTensor(a);
    case 'rebuild_parameter': {
      // _rebuild_parameter(data, requires_grad, backward_hooks): an nn.Parameter around a tensor.
      const [data, requiresGrad, hooks] = a;
      if (a.length !== 3 || !(data instanceof PyTensor) || typeof requiresGrad !== 'boolean' || !emptyDict(hooks)) {
        throw new PickleRefused(`torch._utils._rebuild_parameter takes (tensor, bool, empty OrderedDict), got (${a.map(typeName).join(', ')})`);
      }
      return new PyTensor(data.storage, data.offset, data.shape, data.stride, data.numel, requiresGrad, true);
    }
    case 'storage':
      throw new PickleRefused(`'${fn.qualname}' may appear only in a storage's persistent id, not be called`);
  }
}

function emptyDict(v: PyValue | undefined): boolean {
  return v instanceof PyDict && v.map.size === 0;
}

function intTuple(v: PyValue | undefined, what: string): number[] {
  if (!(v instanceof PyTuple)) throw new PickleRefused(`_rebuild_tensor_v2: ${what} is a ${typeName(v ?? null)}, not a tuple of ints`);
  if (v.items.length > MAX_DIMS) throw new PickleRefused(`_rebuild_tensor_v2: ${what} has ${v.items.length} dimensions (at most ${MAX_DIMS})`);
  return v.items.map((d) => {
    if (typeof d !== 'number' || d < 0) throw new PickleRefused(`_rebuild_tensor_v2: ${what} holds ${typeof d === 'number' || typeof d === 'bigint' ? d : `a ${typeName(d)}`}, not a size`);
    return d;
  });
}

/**
 * _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[,
 * metadata]): checks that every element the view reaches lies inside the storage, so the values
 * can later be gathered without a bounds check failing silently.
 */
function rebuildTensor(a: readonly PyValue[]): PyTensor {
  if (a.length !== 6 && a.length !== 7) throw new PickleRefused(`torch._utils._rebuild_tensor_v2 takes 6 or 7 arguments, got ${a.length}`);
  const [storage, offset, sizeV, strideV, requiresGrad, hooks, metadata] = a;
  if (!(storage instanceof PyStorage)) throw new PickleRefused(`_rebuild_tensor_v2: its storage is a ${typeName(storage!)}, not a persistent storage reference`);
  if (typeof offset !== 'number' || offset < 0) throw new PickleRefused(`_rebuild_tensor_v2: storage offset is ${typeof offset === 'number' || typeof offset === 'bigint' ? offset : `a ${typeName(offset!)}`}`);
  const shape = intTuple(sizeV, 'size');
  const stride = intTuple(strideV, 'stride');
  if (shape.length !== stride.length) throw new PickleRefused(`_rebuild_tensor_v2: size [${shape}] and stride [${stride}] differ in length`);
  if (typeof requiresGrad !== 'boolean') throw new PickleRefused(`_rebuild_tensor_v2: requires_grad is a ${typeName(requiresGrad!)}`);
  if (!emptyDict(hooks)) throw new PickleRefused(`_rebuild_tensor_v2: backward hooks must be an empty OrderedDict (got ${hooks instanceof PyDict ? `${hooks.map.size} hooks` : typeName(hooks!)})`);
  if (a.length === 7 && !emptyDict(metadata)) throw new PickleRefused(`_rebuild_tensor_v2: tensor metadata other than an empty dict is not supported`);
  let numel = 1;
  for (const d of shape) {
    numel *= d;
    if (numel > Number.MAX_SAFE_INTEGER) throw new PickleRefused(`_rebuild_tensor_v2: size [${shape}] has too many elements`);
  }
  if (shape.includes(0)) numel = 0;
  if (numel > 0) {
    // The furthest element the view reads; it must exist in the storage.
    let last = offset;
    for (let i = 0; i < shape.length; i++) last += (shape[i]! - 1) * stride[i]!;
    if (!(last < storage.numel) || last > Number.MAX_SAFE_INTEGER) {
      throw new PickleRefused(
        `storage shorter than its tensor: size [${shape}], stride [${stride}], offset ${offset} reads element ${last}, but storage '${quote(storage.key)}' holds ${storage.numel} ${storage.dtype} values`,
      );
    }
  }
  return new PyTensor(storage, offset, shape, stride, numel, requiresGrad, false);
}
