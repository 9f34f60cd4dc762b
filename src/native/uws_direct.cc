/*
 * What the uws front reads of each request, taken straight from uWebSockets.js's native objects:
 * the request head in one call, and the client's address.
 *
 * Why: uWS.js 20.30 pays a crossing per item. req.forEach calls back into JavaScript from C++
 * once per header, getMethod/getUrl/getQuery are a native call each, and res.getRemoteAddress()
 * wraps 4 or 16 bytes in a new ArrayBuffer over external memory (a BackingStore the garbage
 * collector must sweep). Reading them here costs less CPU per request, for the head and for the
 * address (bench/RESULTS.md, "Stop 12").
 *
 * How: a uWS.js request object keeps its uWS::HttpRequest pointer in internal field 0, and a
 * response object its uWS::HttpResponse pointer (each null once invalid). uWS::HttpRequest starts
 * with its header table, { string_view key, value }[]: entry 0 holds the method and the request
 * target, the others the fields as req.forEach gives them, up to an empty key. A
 * uWS::HttpResponse is its us_socket_t (uWS never allocates one; the SSL socket struct starts
 * with the plain one), and us_socket_remote_address, the getpeername uWS itself calls, is taken
 * from the uWS binary node already loaded (dlopen RTLD_NOLOAD). Strings are made as uWS.js makes
 * them (UTF-8), so both paths give the same values.
 *
 * This reads a layout, so src/front/uws-direct.ts binds it only to uWS binaries whose SHA-256 it
 * was checked against, and checks the first answers against uWS.js's own calls.
 *
 * V8's API, not N-API: N-API cannot read an internal field of an object it did not wrap.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <node.h>
#include <stdint.h>
#include <string.h>

namespace {

using v8::FunctionCallbackInfo;
using v8::Local;
using v8::Object;
using v8::Value;

typedef void (*remote_address_fn)(int ssl, void *socket, char *buf, int *length);

remote_address_fn remote_address = nullptr;

/* What address() answers when the object holds no socket or getpeername fails. */
const double NO_ADDRESS = -1;

/* bind(path): finds us_socket_remote_address in the loaded uWS binary; '' or why not. */
void Bind(const FunctionCallbackInfo<Value> &args) {
  v8::Isolate *isolate = args.GetIsolate();
  const char *failure = "";
  if (args.Length() < 1 || !args[0]->IsString()) {
    failure = "bind(path) takes the path of the loaded uWS binary";
  } else {
    v8::String::Utf8Value path(isolate, args[0]);
    void *handle = dlopen(*path, RTLD_NOW | RTLD_NOLOAD);
    if (handle == nullptr) {
      failure = "the uWS binary is not loaded in this process";
    } else {
      remote_address = (remote_address_fn)dlsym(handle, "us_socket_remote_address");
      if (remote_address == nullptr) failure = "the uWS binary exports no us_socket_remote_address";
    }
  }
  args.GetReturnValue().Set(v8::String::NewFromUtf8(isolate, failure).ToLocalChecked());
}

/*
 * address(res): an IPv4 peer as a number (0 .. 2^32 - 1), also when it comes as an IPv4-mapped
 * IPv6 address (RFC 4291 §2.5.5.2) on a dual-stack listener; another IPv6 peer as inet_ntop's
 * RFC 5952 text; -1 when `res` holds no socket (done, aborted, not a uWS response) or the kernel
 * has no peer for it.
 */
void Address(const FunctionCallbackInfo<Value> &args) {
  if (remote_address == nullptr || args.Length() < 1 || !args[0]->IsObject()) {
    args.GetReturnValue().Set(NO_ADDRESS);
    return;
  }
  Local<Object> res = args[0].As<Object>();
  void *socket = res->InternalFieldCount() >= 1 ? res->GetAlignedPointerFromInternalField(0) : nullptr;
  if (socket == nullptr) {
    args.GetReturnValue().Set(NO_ADDRESS);
    return;
  }
  unsigned char ip[16];
  int length = sizeof ip;
  remote_address(0, socket, (char *)ip, &length);
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  const unsigned char *v4 = nullptr;
  if (length == 4) {
    v4 = ip;
  } else if (length == 16 && memcmp(ip, mapped, sizeof mapped) == 0) {
    v4 = ip + 12;
  } else if (length == 16) {
    char text[INET6_ADDRSTRLEN];
    if (inet_ntop(AF_INET6, ip, text, sizeof text) != nullptr) {
      args.GetReturnValue().Set(
          v8::String::NewFromOneByte(args.GetIsolate(), (const uint8_t *)text).ToLocalChecked());
      return;
    }
  }
  if (v4 == nullptr) {
    args.GetReturnValue().Set(NO_ADDRESS);
    return;
  }
  uint32_t value = ((uint32_t)v4[0] << 24) | ((uint32_t)v4[1] << 16) | ((uint32_t)v4[2] << 8) | v4[3];
  args.GetReturnValue().Set((double)value);
}

/* Mirror of uWS::HttpRequest's first member (20.30): Header { string_view key, value; }[]. */
struct view {
  size_t length;
  const char *data;
};
struct field {
  view key;
  view value;
};
/* uWS 20.30 table size (UWS_HTTP_MAX_HEADERS_COUNT): the request line, 48 fields, an empty key. */
const int MAX_FIELDS = 50;

/*
 * head(req): [name, value, ..., method, path, query] read from the request's fields as
 * req.forEach, getCaseSensitiveMethod, getUrl and getQuery do, in one call; undefined when
 * `req` holds no request.
 */
void Head(const FunctionCallbackInfo<Value> &args) {
  if (args.Length() < 1 || !args[0]->IsObject()) return;
  Local<Object> req = args[0].As<Object>();
  if (req->InternalFieldCount() < 1) return;
  const field *fields = (const field *)req->GetAlignedPointerFromInternalField(0);
  if (fields == nullptr) return;
  v8::Isolate *isolate = args.GetIsolate();
  Local<Value> out[2 * MAX_FIELDS + 3];
  int n = 0;
  for (int i = 1; i < MAX_FIELDS && fields[i].key.length != 0; i++) {
    out[n++] = v8::String::NewFromUtf8(isolate, fields[i].key.data, v8::NewStringType::kNormal,
                                       (int)fields[i].key.length).ToLocalChecked();
    out[n++] = v8::String::NewFromUtf8(isolate, fields[i].value.data, v8::NewStringType::kNormal,
                                       (int)fields[i].value.length).ToLocalChecked();
  }
  const view method = fields[0].key;
  const view target = fields[0].value;
  const char *question = (const char *)memchr(target.data, '?', target.length);
  size_t path = question == nullptr ? target.length : (size_t)(question - target.data);
  out[n++] = v8::String::NewFromUtf8(isolate, method.data, v8::NewStringType::kNormal,
                                     (int)method.length).ToLocalChecked();
  out[n++] = v8::String::NewFromUtf8(isolate, target.data, v8::NewStringType::kNormal, (int)path)
                 .ToLocalChecked();
  out[n++] = question == nullptr
                 ? v8::String::Empty(isolate)
                 : v8::String::NewFromUtf8(isolate, question + 1, v8::NewStringType::kNormal,
                                           (int)(target.length - path - 1)).ToLocalChecked();
  args.GetReturnValue().Set(v8::Array::New(isolate, out, n));
}

}  // namespace

NODE_MODULE_INIT(/* exports, module, context */) {
  NODE_SET_METHOD(exports, "bind", Bind);
  NODE_SET_METHOD(exports, "address", Address);
  NODE_SET_METHOD(exports, "head", Head);
}
