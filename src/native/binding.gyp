{
  # Built by `npm install` (scripts/build-native.mjs) against the running Node's headers, which
  # include its OpenSSL's and libuv's. Nothing is linked: the node binary exports both.
  "targets": [
    {
      "target_name": "jwt_verify",
      "sources": ["jwt_verify.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "xcode_settings": { "OTHER_CFLAGS": ["-O2"] }
    },
    {
      "target_name": "upstream_socket",
      "sources": ["upstream_socket.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "xcode_settings": { "OTHER_CFLAGS": ["-O2"] }
    },
    {
      "target_name": "uws_direct",
      "sources": ["uws_direct.cc"],
      "cflags_cc": ["-O2", "-Wall", "-Wextra", "-Wno-cast-function-type"],
      "xcode_settings": { "OTHER_CFLAGS": ["-O2"] }
    }
  ]
}
