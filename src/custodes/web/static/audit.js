// Checks the vault's audit proofs in the browser, trusting nothing the server says but
// the public key the reader chose to trust.
//
// The same checks as custodes.core.proofs / checkpoint / merkle (docs/audit-log.md):
// - c2sp.org/signed-note with Ed25519 (WebCrypto), key ID = SHA-256(name || 0x0A || 0x01 || key)[:4],
//   verifier key "<name>+<hex key ID>+<base64(0x01 || key)>";
// - c2sp.org/tlog-checkpoint: "<origin>\n<size>\n<base64 root>\n[extensions]";
// - RFC 6962 / RFC 9162 Merkle trees with SHA-256: leaf = SHA-256(0x00 || entry),
//   node = SHA-256(0x01 || left || right); inclusion (§2.1.3.2) and consistency (§2.1.4.2).
// Every check throws ProofFailure with a message a person can read; nothing returns false.

export class ProofFailure extends Error {}

const SIG_PREFIX = "\u2014 "; // EM DASH, space
const HASH_SIZE = 32;
const te = new TextEncoder();

function fail(message) {
  throw new ProofFailure(message);
}

export function b64decode(text, what) {
  if (typeof text !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4) {
    fail(`${what} is not valid base64`);
  }
  let bin;
  try {
    bin = atob(text);
  } catch {
    fail(`${what} is not valid base64`);
  }
  const out = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  if (b64encode(out) !== text) fail(`${what} is not canonical base64`);
  return out;
}

export function b64encode(bytes) {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function equal(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

export function leafHash(entry) {
  return sha256(concat(Uint8Array.of(0), entry));
}

function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}

function validName(name) {
  return name.length > 0 && !name.includes("+") && !/[\s\x00-\x1f]/.test(name);
}

async function keyId(name, publicKey) {
  return (await sha256(concat(te.encode(name), Uint8Array.of(0x0a, 0x01), publicKey))).slice(0, 4);
}

/** Parse a verifier key string; its key ID must match its name and key. */
export async function parseVkey(vkey) {
  const parts = String(vkey).trim().split("+");
  if (parts.length < 3) fail("a verifier key looks like <name>+<key id>+<key>");
  const [name, idHex] = parts;
  const keyB64 = parts.slice(2).join("+");
  if (!validName(name)) fail(`verifier key has an invalid name ${JSON.stringify(name)}`);
  if (!/^[0-9a-fA-F]{8}$/.test(idHex)) fail("verifier key ID must be 8 hexadecimal digits");
  const key = b64decode(keyB64, "verifier key");
  if (key.length !== 33 || key[0] !== 0x01) fail("verifier key is not an Ed25519 (type 0x01) key");
  const publicKey = key.slice(1);
  const kid = await keyId(name, publicKey);
  if (hex(kid) !== idHex.toLowerCase()) fail(`verifier key ID ${idHex} does not match the key`);
  return { name, kid, publicKey };
}

/** Split a signed note into its text and signatures, verifying nothing. */
export function parseNote(note) {
  if (typeof note !== "string") fail("a signed note is text");
  if (/[\x00-\x09\x0b-\x1f]/.test(note)) fail("signed note contains control characters");
  const split = note.lastIndexOf("\n\n");
  if (split < 0) fail("signed note has no blank line before its signatures");
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (!block || !block.endsWith("\n")) fail("signed note must end with signature lines");
  const signatures = block
    .slice(0, -1)
    .split("\n")
    .map((line) => {
      if (!line.startsWith(SIG_PREFIX)) fail("signed note has a line that is not a signature");
      const rest = line.slice(SIG_PREFIX.length);
      const space = rest.indexOf(" ");
      const name = space < 0 ? rest : rest.slice(0, space);
      const raw = b64decode(space < 0 ? "" : rest.slice(space + 1), "note signature");
      if (raw.length < 5) fail("note signature is too short");
      return { name, kid: raw.slice(0, 4), signature: raw.slice(4) };
    });
  return { text, signatures };
}

/** The note's text, once a signature by the key has verified (Ed25519 in WebCrypto). */
export async function openNote(note, vkey) {
  const key = await parseVkey(vkey);
  const { text, signatures } = parseNote(note);
  const label = `${key.name}+${hex(key.kid)}`;
  const cryptoKey = await crypto.subtle.importKey("raw", key.publicKey, { name: "Ed25519" }, false, [
    "verify",
  ]);
  let verified = false;
  for (const sig of signatures) {
    if (sig.name !== key.name || !equal(sig.kid, key.kid)) continue;
    if (sig.signature.length !== 64) fail(`invalid signature by key ${label}: wrong length`);
    const ok = await crypto.subtle.verify({ name: "Ed25519" }, cryptoKey, sig.signature, te.encode(text));
    if (!ok) fail(`invalid signature by key ${label}: the note was altered after it was signed, or the key is wrong`);
    verified = true;
  }
  if (!verified) fail(`note has no signature by key ${label}`);
  return text;
}

/** Parse a checkpoint's note text strictly. */
export function parseCheckpoint(text) {
  if (!text.endsWith("\n")) fail("checkpoint must end with a newline");
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) fail("checkpoint needs an origin, a tree size and a root hash line");
  const [origin, sizeText, rootText] = lines;
  if (!origin) fail("checkpoint origin line is empty");
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText)) fail(`checkpoint tree size ${sizeText} is not a number`);
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) fail(`checkpoint tree size ${sizeText} is too large to check here`);
  const root = b64decode(rootText, "checkpoint root hash");
  if (root.length !== HASH_SIZE) fail("checkpoint root hash must be 32 bytes");
  return { origin, size, root };
}

function proofHashes(list) {
  if (!Array.isArray(list)) fail("bundle field proof must be a list of base64 hashes");
  return list.map((item, i) => {
    const h = b64decode(item, `proof[${i}]`);
    if (h.length !== HASH_SIZE) fail("every proof hash must be 32 bytes");
    return h;
  });
}

const isOdd = (n) => n % 2 === 1;
const half = (n) => Math.floor(n / 2);

function isPowerOfTwo(n) {
  while (n > 1 && n % 2 === 0) n /= 2;
  return n === 1;
}

/** RFC 9162 §2.1.3.2: leafHash is leaf `index` of the tree of `size` whose root is `root`. */
export async function verifyInclusion(index, size, leaf, proof, root) {
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
    fail(`leaf index ${index} is outside a tree of size ${size}`);
  }
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) fail(`inclusion proof for leaf ${index} of ${size} is too long`);
    if (isOdd(fn) || fn === sn) {
      r = await nodeHash(p, r);
      while (fn !== 0 && !isOdd(fn)) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) fail(`inclusion proof for leaf ${index} of ${size} is too short`);
  if (!equal(r, root)) {
    fail(
      `inclusion proof for leaf ${index} of ${size} does not lead to the signed root ` +
        `(computed ${hex(r).slice(0, 16)}…, signed ${hex(root).slice(0, 16)}…)`,
    );
  }
}

/** RFC 9162 §2.1.4.2: the tree of newSize with newRoot extends the one of oldSize. */
export async function verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof) {
  if (oldSize > newSize) fail(`old tree size ${oldSize} is larger than the new size ${newSize}`);
  if (oldSize === newSize || oldSize === 0) {
    if (proof.length) fail(`consistency proof from ${oldSize} to ${newSize} must be empty`);
    if (oldSize === 0) {
      if (!equal(oldRoot, await sha256(new Uint8Array()))) fail("the root of an empty tree is SHA-256 of nothing");
    } else if (!equal(oldRoot, newRoot)) {
      fail(`two trees of the same size ${oldSize} have different roots`);
    }
    return;
  }
  if (!proof.length) fail(`consistency proof from ${oldSize} to ${newSize} is empty`);
  const path = [...proof];
  if (isPowerOfTwo(oldSize)) path.unshift(oldRoot);
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) fail(`consistency proof from ${oldSize} to ${newSize} is too long`);
    if (isOdd(fn) || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while (fn !== 0 && !isOdd(fn)) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) fail(`consistency proof from ${oldSize} to ${newSize} is too short`);
  if (!equal(fr, oldRoot)) fail(`consistency proof from ${oldSize} to ${newSize} does not reproduce the old root`);
  if (!equal(sr, newRoot)) fail(`consistency proof from ${oldSize} to ${newSize} does not reproduce the new root`);
}

async function openCheckpoint(note, vkey) {
  if (typeof note !== "string") fail("bundle checkpoint must be a signed note");
  return parseCheckpoint(await openNote(note, vkey));
}

function checkKeys(bundle, format, keys) {
  if (!bundle || typeof bundle !== "object" || Array.isArray(bundle)) fail("a proof bundle is a JSON object");
  if (bundle.format !== format) fail(`not a ${format} bundle (format ${JSON.stringify(bundle.format)})`);
  const present = Object.keys(bundle).sort().join(",");
  if (present !== [...keys].sort().join(",")) fail(`malformed ${format} bundle: fields ${present}`);
}

export const INCLUSION_FORMAT = "custodes-inclusion-proof/v1";
export const CONSISTENCY_FORMAT = "custodes-consistency-proof/v1";

/** Check an inclusion bundle; returns the checkpoint and the event the entry holds. */
export async function verifyInclusionBundle(bundle, vkey) {
  checkKeys(bundle, INCLUSION_FORMAT, ["format", "leaf_index", "tree_size", "entry", "proof", "checkpoint"]);
  const { leaf_index: index, tree_size: treeSize } = bundle;
  if (!Number.isSafeInteger(index) || index < 0) fail("bundle field leaf_index must be a non-negative integer");
  if (!Number.isSafeInteger(treeSize) || treeSize < 0) fail("bundle field tree_size must be a non-negative integer");
  const entry = b64decode(bundle.entry, "entry");
  const proof = proofHashes(bundle.proof);
  const checkpoint = await openCheckpoint(bundle.checkpoint, vkey);
  if (checkpoint.size !== treeSize) {
    fail(`bundle tree size ${treeSize} is not the signed checkpoint's size ${checkpoint.size}`);
  }
  await verifyInclusion(index, checkpoint.size, await leafHash(entry), proof, checkpoint.root);
  const event = decodeEntry(entry);
  if (event.seq !== index) fail(`the proven entry is event ${event.seq}, not ${index}`);
  return { kind: "inclusion", checkpoint, index, event };
}

/** Check a consistency bundle; returns the two checkpoints it links. */
export async function verifyConsistencyBundle(bundle, vkey) {
  checkKeys(bundle, CONSISTENCY_FORMAT, ["format", "old_checkpoint", "new_checkpoint", "proof"]);
  const proof = proofHashes(bundle.proof);
  const older = await openCheckpoint(bundle.old_checkpoint, vkey);
  const newer = await openCheckpoint(bundle.new_checkpoint, vkey);
  if (older.origin !== newer.origin) fail(`checkpoints are from different logs: ${older.origin}, ${newer.origin}`);
  await verifyConsistency(older.size, newer.size, older.root, newer.root, proof);
  return { kind: "consistency", older, newer };
}

/** Either kind of bundle, by its format. */
export function verifyBundle(bundle, vkey) {
  if (bundle && bundle.format === CONSISTENCY_FORMAT) return verifyConsistencyBundle(bundle, vkey);
  return verifyInclusionBundle(bundle, vkey);
}

/** The event an entry holds: a first line (previous leaf hash, seq), then its JSON. */
export function decodeEntry(entry) {
  const text = new TextDecoder("utf-8", { fatal: true }).decode(entry);
  const newline = text.indexOf("\n");
  try {
    return JSON.parse(text.slice(newline + 1));
  } catch {
    fail("the proven entry is not an audit event");
  }
}
