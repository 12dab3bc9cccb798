import test from 'ava';
import { isScroogeError } from '../base/errors.js';
import { bothBackends, hex, toHex } from './helpers/backends.js';

// RFC 8032 §7.1, TEST 1-3.
const ED25519 = [
  {
    seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    pk: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    msg: '',
    sig: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    pk: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    msg: '72',
    sig: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    seed: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    pk: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    msg: 'af82',
    sig: '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
];

// RFC 7748 §5.2 and §6.1.
const X25519 = [
  {
    k: 'a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4',
    u: 'e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c',
    out: 'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552',
  },
  {
    k: '4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d',
    u: 'e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493',
    out: '95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957',
  },
];
const ALICE_SK = '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a';
const ALICE_PK = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';
const BOB_SK = '5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb';
const BOB_PK = 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f';
const SHARED = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';

// RFC 8439 §2.8.2.
const AEAD = {
  key: '808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f',
  nonce: '070000004041424344454647',
  aad: '50515253c0c1c2c3c4c5c6c7',
  plain:
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  cipher:
    'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116',
  tag: '1ae10b594f09e26a7e902ecbd0600691',
};

for (const b of bothBackends()) {
  test(`${b.name}: RFC 8032 Ed25519 vectors`, (t) => {
    for (const v of ED25519) {
      t.is(toHex(b.ed25519PublicKey(hex(v.seed))), v.pk);
      t.is(toHex(b.ed25519Sign(hex(v.msg), hex(v.seed))), v.sig);
      t.true(b.ed25519Verify(hex(v.sig), hex(v.msg), hex(v.pk)));
      const bad = hex(v.sig);
      bad[5] = (bad[5] as number) ^ 1;
      t.false(b.ed25519Verify(bad, hex(v.msg), hex(v.pk)));
      t.false(b.ed25519Verify(hex(v.sig), new Uint8Array([1, 2, 3]), hex(v.pk)));
      t.false(b.ed25519Verify(hex(v.sig).subarray(1), hex(v.msg), hex(v.pk)), 'short signature');
    }
  });

  test(`${b.name}: RFC 7748 X25519 vectors`, (t) => {
    for (const v of X25519) t.is(toHex(b.x25519(hex(v.k), hex(v.u))), v.out);
    t.is(toHex(b.x25519PublicKey(hex(ALICE_SK))), ALICE_PK);
    t.is(toHex(b.x25519PublicKey(hex(BOB_SK))), BOB_PK);
    t.is(toHex(b.x25519(hex(ALICE_SK), hex(BOB_PK))), SHARED);
    t.is(toHex(b.x25519(hex(BOB_SK), hex(ALICE_PK))), SHARED);
  });

  test(`${b.name}: RFC 7748 X25519 iterated (1 and 1000 rounds)`, (t) => {
    let k = hex(`09${'00'.repeat(31)}`);
    let u = hex(`09${'00'.repeat(31)}`);
    for (let i = 1; i <= 1000; i++) {
      const next = b.x25519(k, u);
      u = k;
      k = next;
      if (i === 1) t.is(toHex(k), '422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079');
    }
    t.is(toHex(k), '684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51');
  });

  test(`${b.name}: X25519 rejects an all-zero shared secret`, (t) => {
    for (const lowOrder of [`${'00'.repeat(32)}`, `01${'00'.repeat(31)}`]) {
      const err = t.throws(() => b.x25519(hex(ALICE_SK), hex(lowOrder)));
      t.true(isScroogeError(err, 'ERR_X25519_ZERO'));
    }
  });

  test(`${b.name}: RFC 8439 AEAD vector, in place`, (t) => {
    const data = new Uint8Array(Buffer.from(AEAD.plain, 'latin1'));
    const tag = new Uint8Array(16);
    b.seal(hex(AEAD.key), hex(AEAD.nonce), hex(AEAD.aad), data, tag);
    t.is(toHex(data), AEAD.cipher);
    t.is(toHex(tag), AEAD.tag);
    t.true(b.open(hex(AEAD.key), hex(AEAD.nonce), hex(AEAD.aad), data, tag));
    t.is(Buffer.from(data).toString('latin1'), AEAD.plain);
  });

  test(`${b.name}: AEAD open rejects any tampering without throwing`, (t) => {
    const key = hex(AEAD.key);
    const nonce = hex(AEAD.nonce);
    const aad = hex(AEAD.aad);
    const fresh = () => ({ data: hex(AEAD.cipher), tag: hex(AEAD.tag) });
    let c = fresh();
    c.data[0] = (c.data[0] as number) ^ 0x80;
    t.false(b.open(key, nonce, aad, c.data, c.tag));
    c = fresh();
    c.tag[15] = (c.tag[15] as number) ^ 1;
    t.false(b.open(key, nonce, aad, c.data, c.tag));
    c = fresh();
    t.false(b.open(key, nonce, hex('50515253c0c1c2c3c4c5c6c8'), c.data, c.tag));
    c = fresh();
    t.false(b.open(key, hex('070000004041424344454648'), aad, c.data, c.tag));
    c = fresh();
    t.false(b.open(key, nonce, aad, c.data, c.tag.subarray(1)), 'short tag');
    c = fresh();
    t.true(b.open(key, nonce, aad, c.data, c.tag));
  });

  test(`${b.name}: AEAD on an empty payload (keepalive) and on a subarray of a larger buffer`, (t) => {
    const key = hex(AEAD.key);
    const nonce = hex(AEAD.nonce);
    const slab = new Uint8Array(4096).fill(0x5a);
    const hdr = slab.subarray(100, 116);
    const body = slab.subarray(116, 116);
    const tag = slab.subarray(116, 132);
    b.seal(key, nonce, hdr, body, tag);
    t.true(b.open(key, nonce, hdr, body, tag));
    const payload = slab.subarray(1000, 2420);
    const before = Uint8Array.from(payload);
    const tag2 = slab.subarray(2420, 2436);
    b.seal(key, nonce, hdr, payload, tag2);
    t.not(toHex(payload), toHex(before));
    t.is(slab[999], 0x5a, 'no write before the payload');
    t.is(slab[2436], 0x5a, 'no write after the tag');
    t.true(b.open(key, nonce, hdr, payload, tag2));
    t.is(toHex(payload), toHex(before));
  });
}
