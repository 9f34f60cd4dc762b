/*
 * The peer address of a uWebSockets.js HttpResponse, for the uws front's X-Forwarded-For.
 *
 * Why: uWS.js 20.30's res.getRemoteAddress() wraps the 4 or 16 address bytes in a new
 * ArrayBuffer over external memory on every call: a BackingStore, an ArrayBuffer extension the
 * garbage collector must sweep, and a Uint8Array to read it. Measured on the project's machine,
 * that is about 5 µs of a request the front answers alone. Here the same uSockets function uWS
 * calls (us_socket_remote_address: one getpeername) fills a stack buffer, an IPv4 peer comes
 * back as a number and an IPv6 one as text. That text is RFC 5952's (inet_ntop), as node's
 * front gives it: uWS's getRemoteAddressAsText writes all eight groups in full.
 *
 * How: a uWS.js response object keeps its uWS::HttpResponse pointer in internal field 0 (null once
 * the response is done or aborted), and a uWS::HttpResponse is its us_socket_t (uWS never
 * allocates one; the SSL socket struct starts with the plain one). The uSockets function is taken
 * from the uWS binary node already loaded (dlopen RTLD_NOLOAD), so the bytes come from the same
 * code as res.getRemoteAddress(). The front checks the first answer against uWS's own and drops
 * this path if they differ (src/front/uws-peer.ts).
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

}  // namespace

NODE_MODULE_INIT(/* exports, module, context */) {
  NODE_SET_METHOD(exports, "bind", Bind);
  NODE_SET_METHOD(exports, "address", Address);
}
