{
  # Built by `npm install` (scripts/build-native.mjs) against the running Node's headers, which
  # include its OpenSSL's. Nothing is linked: the node binary exports the OpenSSL symbols.
  "targets": [
    {
      "target_name": "jwt_verify",
      "sources": ["jwt_verify.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "xcode_settings": { "OTHER_CFLAGS": ["-O2"] }
    }
  ]
}
