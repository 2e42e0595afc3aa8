// The room's security code: the first 30 bits of the MLS epoch authenticator (RFC 9420 §8.7),
// as six groups of two digits (each 5 bits, 00-31), short enough to read out loud. Everyone in
// the same epoch sees the same code; it changes whenever membership changes.
export function securityCode(authenticator) {
  let bits = 0;
  for (let i = 0; i < 4; i++) bits = bits * 256 + authenticator[i];
  bits = Math.floor(bits / 4); // the first 30 of 32 bits
  const groups = [];
  for (let i = 5; i >= 0; i--) groups.push(String(Math.floor(bits / 2 ** (5 * i)) % 32).padStart(2, '0'));
  return groups.join(' ');
}
