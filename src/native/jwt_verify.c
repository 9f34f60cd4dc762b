/*
 * Native JWS signature checks for RS256/384/512 and ES256/384/512 (RFC 7518 §3.3, §3.4), on the
 * OpenSSL that Node itself links (its symbols are exported by the node binary; nothing else is
 * linked).
 *
 * Why not node:crypto: each crypto.verify() call builds a job object, fetches the algorithm from
 * OpenSSL 3's provider tables and creates a fresh EVP_PKEY_CTX, which walks the key type's name
 * map. On the gateway's hot path that costs more than the RSA arithmetic itself (an RS256 check
 * in the gateway against `openssl speed`: bench/RESULTS.md, "Figures behind the code"). Here a
 * key is decoded once and each check is the bare public-key operation plus a one-shot hash.
 *
 * Every entry point is synchronous, never throws to JavaScript and answers false on any doubt
 * (bad arguments, wrong key type, wrong lengths, OpenSSL errors). The key family and curve are
 * checked by the caller (src/jwt/signature.ts) as well as here.
 */
#define NAPI_VERSION 8
#define OPENSSL_SUPPRESS_DEPRECATED /* RSA_public_decrypt and EC_KEY: the direct, cheap paths */

#include <node_api.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

/* Tags the externals this module makes, so a foreign external is never read as a key. */
static const napi_type_tag KEY_TAG = {0x70637573766b6579ULL, 0x6a77732d6e617469ULL};

typedef struct {
  EVP_PKEY *pkey;
  const RSA *rsa;   /* owned by pkey */
  const EC_KEY *ec; /* owned by pkey */
} verify_key;

enum { HASH_SHA256 = 0, HASH_SHA384 = 1, HASH_SHA512 = 2 };

/* RFC 8017 §9.2 note 1: DER of DigestInfo up to the digest, the digest length last. */
static const unsigned char DIGEST_INFO_SHA256[19] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                                     0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                                     0x01, 0x05, 0x00, 0x04, 0x20};
static const unsigned char DIGEST_INFO_SHA384[19] = {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                                     0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                                     0x02, 0x05, 0x00, 0x04, 0x30};
static const unsigned char DIGEST_INFO_SHA512[19] = {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                                     0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                                     0x03, 0x05, 0x00, 0x04, 0x40};
#define DIGEST_INFO_PREFIX_BYTES 19

/* Tokens fit here; a longer signing input (up to the issuer's max_token_size) is allocated. */
#define STACK_INPUT_BYTES 8192
#define MAX_RSA_BYTES 2048 /* 16384-bit moduli; larger keys are refused */

static void free_key(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  verify_key *key = (verify_key *)data;
  EVP_PKEY_free(key->pkey);
  free(key);
}

static napi_value boolean(napi_env env, int value) {
  napi_value result;
  napi_get_boolean(env, value != 0, &result);
  return result;
}

static napi_value undefined(napi_env env) {
  napi_value result;
  napi_get_undefined(env, &result);
  return result;
}

/* The bytes of a Uint8Array (a Buffer is one). */
static int bytes_of(napi_env env, napi_value value, const unsigned char **data, size_t *length) {
  bool is_typed_array = false;
  if (napi_is_typedarray(env, value, &is_typed_array) != napi_ok || !is_typed_array) return 0;
  napi_typedarray_type type;
  void *raw = NULL;
  if (napi_get_typedarray_info(env, value, &type, length, &raw, NULL, NULL) != napi_ok) return 0;
  if (type != napi_uint8_array) return 0;
  *data = (const unsigned char *)raw;
  return 1;
}

static const verify_key *key_of(napi_env env, napi_value value) {
  bool tagged = false;
  if (napi_check_object_type_tag(env, value, &KEY_TAG, &tagged) != napi_ok || !tagged) return NULL;
  void *data = NULL;
  if (napi_get_value_external(env, value, &data) != napi_ok) return NULL;
  return (const verify_key *)data;
}

/*
 * The digest of `length` bytes, through the SHA*_Init/Update/Final calls. OpenSSL 3's one-shot
 * SHA256() goes through EVP_Q_digest, which fetches the algorithm from the provider tables on
 * every call: for a 600-byte token that fetch cost as much as the hashing. Returns the digest
 * length, 0 for an unknown hash id.
 */
static size_t digest_of(int hash, const unsigned char *data, size_t length, unsigned char *digest) {
  switch (hash) {
    case HASH_SHA256: {
      SHA256_CTX ctx;
      SHA256_Init(&ctx);
      SHA256_Update(&ctx, data, length);
      SHA256_Final(digest, &ctx);
      return 32;
    }
    case HASH_SHA384: {
      SHA512_CTX ctx;
      SHA384_Init(&ctx);
      SHA384_Update(&ctx, data, length);
      SHA384_Final(digest, &ctx);
      return 48;
    }
    case HASH_SHA512: {
      SHA512_CTX ctx;
      SHA512_Init(&ctx);
      SHA512_Update(&ctx, data, length);
      SHA512_Final(digest, &ctx);
      return 64;
    }
    default:
      return 0;
  }
}

/*
 * Hashes the UTF-8 bytes of a string, as node:crypto hashes Buffer.from(string), into `digest`.
 * A JWS signing input is base64url and a dot, so this is a plain copy; any other string still
 * gets node's answer, never a lossy one-byte reading of it. Returns the digest length, 0 on
 * failure.
 */
static size_t hash_input(napi_env env, napi_value input, int hash, unsigned char *digest) {
  /*
   * One pass for a token that fits the stack copy: a UTF-8 copy stops short of a character that
   * does not fit, so under 4 bytes of room left proves the copy whole. Longer input is measured,
   * then copied into memory of its size.
   */
  unsigned char stack_copy[STACK_INPUT_BYTES];
  unsigned char *copy = stack_copy;
  size_t length = 0;
  if (napi_get_value_string_utf8(env, input, (char *)copy, sizeof stack_copy, &length) != napi_ok) {
    return 0;
  }
  if (length + 4 >= sizeof stack_copy) {
    size_t needed = 0;
    if (napi_get_value_string_utf8(env, input, NULL, 0, &needed) != napi_ok) return 0;
    copy = (unsigned char *)malloc(needed + 1);
    if (copy == NULL) return 0;
    if (napi_get_value_string_utf8(env, input, (char *)copy, needed + 1, &length) != napi_ok ||
        length != needed) {
      free(copy);
      return 0;
    }
  }
  size_t digest_length = digest_of(hash, copy, length, digest);
  if (copy != stack_copy) free(copy);
  return digest_length;
}

static int hash_of(napi_env env, napi_value value) {
  int32_t hash = -1;
  if (napi_get_value_int32(env, value, &hash) != napi_ok) return -1;
  return hash >= HASH_SHA256 && hash <= HASH_SHA512 ? hash : -1;
}

/* importKey(spkiDer: Uint8Array): key | undefined. Only RSA and EC public keys are taken. */
static napi_value import_key(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) {
    return undefined(env);
  }
  const unsigned char *der = NULL;
  size_t der_length = 0;
  if (!bytes_of(env, argv[0], &der, &der_length) || der_length > 65536) return undefined(env);
  const unsigned char *cursor = der;
  EVP_PKEY *pkey = d2i_PUBKEY(NULL, &cursor, (long)der_length);
  if (pkey == NULL || cursor != der + der_length) {
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return undefined(env);
  }
  verify_key *key = (verify_key *)calloc(1, sizeof *key);
  if (key == NULL) {
    EVP_PKEY_free(pkey);
    return undefined(env);
  }
  key->pkey = pkey;
  switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_RSA:
      key->rsa = EVP_PKEY_get0_RSA(pkey);
      if (key->rsa != NULL && RSA_size(key->rsa) > MAX_RSA_BYTES) key->rsa = NULL;
      break;
    case EVP_PKEY_EC:
      key->ec = EVP_PKEY_get0_EC_KEY(pkey);
      break;
    default:
      break;
  }
  ERR_clear_error();
  if (key->rsa == NULL && key->ec == NULL) {
    free_key(env, key, NULL);
    return undefined(env);
  }
  napi_value external;
  if (napi_create_external(env, key, free_key, NULL, &external) != napi_ok) {
    free_key(env, key, NULL);
    return undefined(env);
  }
  if (napi_type_tag_object(env, external, &KEY_TAG) != napi_ok) return undefined(env);
  return external;
}

/* The arguments both checks take: (key, hash, signingInput, signature). 0 when any is wrong. */
typedef struct {
  const verify_key *key;
  int hash;
  napi_value input;
  const unsigned char *signature;
  size_t signature_length;
} check_args;

static int read_check_args(napi_env env, napi_callback_info info, check_args *args) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4) return 0;
  args->key = key_of(env, argv[0]);
  args->hash = hash_of(env, argv[1]);
  args->input = argv[2];
  if (args->key == NULL || args->hash < 0) return 0;
  return bytes_of(env, argv[3], &args->signature, &args->signature_length);
}

/* verifyRsa(key, hash, signingInput: string, signature: Uint8Array): boolean, PKCS#1 v1.5 */
static napi_value verify_rsa(napi_env env, napi_callback_info info) {
  check_args args;
  if (!read_check_args(env, info, &args) || args.key->rsa == NULL) return boolean(env, 0);
  /* RFC 8017 §8.2.2 step 1: the signature is exactly as long as the modulus. */
  if (args.signature_length != (size_t)RSA_size(args.key->rsa)) return boolean(env, 0);

  unsigned char digest[64];
  const size_t digest_length = hash_input(env, args.input, args.hash, digest);
  if (digest_length == 0) return boolean(env, 0);
  const unsigned char *prefix = args.hash == HASH_SHA256   ? DIGEST_INFO_SHA256
                                : args.hash == HASH_SHA384 ? DIGEST_INFO_SHA384
                                                           : DIGEST_INFO_SHA512;

  /*
   * s^e mod n with the block type 1 padding checked by OpenSSL (00 01 FF.. 00); what remains must
   * be exactly the DER DigestInfo of our digest, as RSA_verify compares it.
   */
  unsigned char recovered[MAX_RSA_BYTES];
  const int recovered_length =
      RSA_public_decrypt((int)args.signature_length, args.signature, recovered,
                         (RSA *)args.key->rsa, RSA_PKCS1_PADDING);
  int valid = 0;
  if (recovered_length == (int)(DIGEST_INFO_PREFIX_BYTES + digest_length) &&
      CRYPTO_memcmp(recovered, prefix, DIGEST_INFO_PREFIX_BYTES) == 0 &&
      CRYPTO_memcmp(recovered + DIGEST_INFO_PREFIX_BYTES, digest, digest_length) == 0) {
    valid = 1;
  }
  ERR_clear_error();
  return boolean(env, valid);
}

/* verifyEcdsa(key, hash, signingInput: string, signature: Uint8Array): boolean — R || S */
static napi_value verify_ecdsa(napi_env env, napi_callback_info info) {
  check_args args;
  if (!read_check_args(env, info, &args) || args.key->ec == NULL) return boolean(env, 0);
  const EC_GROUP *group = EC_KEY_get0_group(args.key->ec);
  if (group == NULL) return boolean(env, 0);
  /* RFC 7518 §3.4: R and S each take the byte length of the group order. */
  const size_t half = (size_t)((EC_GROUP_order_bits(group) + 7) / 8);
  if (half == 0 || args.signature_length != 2 * half) return boolean(env, 0);

  unsigned char digest[64];
  const size_t digest_length = hash_input(env, args.input, args.hash, digest);
  if (digest_length == 0) return boolean(env, 0);

  int valid = 0;
  ECDSA_SIG *sig = ECDSA_SIG_new();
  BIGNUM *r = BN_bin2bn(args.signature, (int)half, NULL);
  BIGNUM *s = BN_bin2bn(args.signature + half, (int)half, NULL);
  if (sig != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(sig, r, s) == 1) {
    r = NULL; /* owned by sig now */
    s = NULL;
    /* 1 valid, 0 invalid, -1 error (r or s out of [1, n-1] among them). */
    valid = ECDSA_do_verify(digest, (int)digest_length, sig, (EC_KEY *)args.key->ec) == 1;
  }
  BN_free(r);
  BN_free(s);
  ECDSA_SIG_free(sig);
  ERR_clear_error();
  return boolean(env, valid);
}

static const char BASE64URL[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/*
 * tokenKey(token): the SHA-256 of the token's UTF-8 bytes, base64url without padding (43
 * characters), exactly `crypto.hash('sha256', token, 'base64url')` in under half its time: the
 * key of the verified-token cache (src/jwt/cache.ts), computed on every request with a token.
 * Answers undefined when the argument is not a string.
 */
static napi_value token_key(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return NULL;
  unsigned char digest[32];
  if (hash_input(env, argv[0], HASH_SHA256, digest) != 32) return NULL;
  char text[43];
  size_t o = 0;
  for (size_t i = 0; i < 30; i += 3) {
    unsigned v = ((unsigned)digest[i] << 16) | ((unsigned)digest[i + 1] << 8) | digest[i + 2];
    text[o++] = BASE64URL[v >> 18];
    text[o++] = BASE64URL[(v >> 12) & 63];
    text[o++] = BASE64URL[(v >> 6) & 63];
    text[o++] = BASE64URL[v & 63];
  }
  unsigned last = ((unsigned)digest[30] << 8) | digest[31];
  text[o++] = BASE64URL[last >> 10];
  text[o++] = BASE64URL[(last >> 4) & 63];
  text[o++] = BASE64URL[(last << 2) & 63];
  napi_value result;
  if (napi_create_string_latin1(env, text, sizeof text, &result) != napi_ok) return NULL;
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  const napi_property_descriptor methods[] = {
      {"importKey", NULL, import_key, NULL, NULL, NULL, napi_enumerable, NULL},
      {"verifyRsa", NULL, verify_rsa, NULL, NULL, NULL, napi_enumerable, NULL},
      {"verifyEcdsa", NULL, verify_ecdsa, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tokenKey", NULL, token_key, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof methods / sizeof methods[0], methods);
  napi_value version;
  napi_create_string_utf8(env, OpenSSL_version(OPENSSL_VERSION), NAPI_AUTO_LENGTH, &version);
  napi_set_named_property(env, exports, "openssl", version);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
