// Cross-check driver for sframe/crosscheck_test.go (Go runs: node crosscheck.mjs < request.json).
// For each case it decrypts the frames Go encrypted and encrypts the same
// frames itself from the same key, KID and counters, so Go can compare the
// bytes and decrypt them. Test tooling only: it handles test keys, never real ones.
import { SFrameContext, MLSKeys, KIDLayout } from './sframe.mjs';
import { hex, toHex } from './testutil.mjs';

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

async function runCase(c) {
  const frames = c.frames.map(hex);
  const goFrames = c.go.map(hex);
  let tx;
  let rx;
  if (c.mls) {
    const exporter = { export: async (label, context, length) => (label === 'SFrame 1.0 Base Key' && context.length === 0 ? hex(c.mls.exported).slice(0, length) : new Uint8Array(0)) };
    const cfg = { suite: c.suite, layout: new KIDLayout(c.mls.epoch_bits, c.mls.sender_bits), context: BigInt(c.mls.context) };
    const sender = new MLSKeys(cfg);
    await sender.setEpoch(BigInt(c.mls.epoch), c.mls.sender, exporter);
    const receiver = new MLSKeys(cfg);
    await receiver.setEpoch(BigInt(c.mls.epoch), c.mls.receiver, exporter);
    tx = (f) => sender.encryptFrame(c.codec, f);
    rx = (f) => receiver.decryptFrame(c.codec, f);
  } else {
    const kid = BigInt(c.kid);
    const enc = new SFrameContext(c.suite);
    const dec = new SFrameContext(c.suite);
    await enc.addKey(kid, hex(c.base_key));
    await dec.addKey(kid, hex(c.base_key));
    tx = (f) => enc.encryptFrame(kid, c.codec, f);
    rx = (f) => dec.decryptFrame(c.codec, f);
  }
  const decrypted = [];
  for (const g of goFrames) decrypted.push(toHex((await rx(g)).frame));
  const js = [];
  for (const f of frames) js.push(toHex(await tx(f)));
  return { name: c.name, decrypted, js };
}

const req = await readStdin();
const out = [];
for (const c of req.cases) {
  try {
    out.push(await runCase(c));
  } catch (e) {
    out.push({ name: c.name, error: `${e.name}: ${e.code ?? ''} ${e.message}` });
  }
}
process.stdout.write(JSON.stringify({ cases: out }));
