/*
 * Plain TCP client sockets for the native HTTP/1.1 upstream transport (src/proxy/h1/), polled
 * by libuv on Node's own loop.
 *
 * Why not net.Socket: under load a keep-alive upstream socket does one send and one read per
 * request, and net pays for each of them in its stream machinery. A write goes through Writable
 * (a WriteWrap, a nextTick for afterWrite), a read through libuv's stream layer and StreamBase's
 * JavaScript callback, and that machinery costs the uWS front more per request than answering
 * by itself does (bench/floors, bench/RESULTS.md). Here a write is one call that sends at once,
 * and a read is one recv into a buffer JavaScript already holds, reported by one callback.
 *
 * The module keeps no JavaScript object per socket: sockets are small integers (slots). Events
 * are not reported one by one: each is written to the event list given to init() (slot, event,
 * value, offset), and the list is handed to the one callback, `onEvents(count)`, once at the end
 * of the poll phase (a check handle), or earlier when the list or the read buffer runs short.
 * Entering JavaScript through napi_make_callback (callback scope, async hooks, microtask
 * checkpoint) has a fixed cost per read; one entry per loop turn shares that among every socket
 * that turn made ready. Reads land in consecutive parts of the one buffer given to init();
 * the callback must be done with them when it returns (the next turn's reads overwrite them).
 * Writes never block: what the kernel does not take is copied to the socket's queue and sent
 * when the socket is writable. Errors are reported from the poll phase, never from inside a
 * call, so a caller is never re-entered while it writes.
 */
#define NAPI_VERSION 8

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

enum { EV_CONNECT = 1, EV_READ = 2, EV_EOF = 3, EV_ERROR = 4, EV_DRAIN = 5 };

/* Int32 fields of an event in the list: slot (-1 once the slot is closed), event, value (bytes
 * read, or -errno), offset of the read in the read buffer. */
#define EVENT_FIELDS 4
/* A read is given at least this much of the read buffer: with less left, the events waiting are
 * delivered first and the read gets the whole buffer. */
#define MIN_READ_ROOM 16384



typedef struct upstream_socket upstream_socket;

/* Per JavaScript environment (main thread or worker thread): set by init(). */
typedef struct instance {
  napi_env env;
  uv_loop_t *loop;
  napi_ref callback;
  napi_ref read_buffer_ref;
  napi_ref resource;
  napi_async_context context;
  char *read_buffer;
  size_t read_buffer_len;
  /* Bytes of read_buffer holding reads not delivered yet. */
  size_t read_used;
  napi_ref events_ref;
  int32_t *events;
  size_t event_capacity;
  size_t event_count;
  /* Events of the list being delivered now (0 outside deliver_events). */
  size_t delivering;
  /* Delivers the events at the end of the poll phase; its own allocation (see js_init). */
  uv_check_t *check;
  upstream_socket **slots;
  int slot_count;
  int *free_slots;
  int free_count;
  char *scratch;
  size_t scratch_cap;
} instance;

struct upstream_socket {
  uv_poll_t poll;
  int fd;
  int slot;
  instance *owner;
  int events; /* what the poll handle watches now */
  unsigned connecting : 1;
  unsigned reading : 1; /* the owner wants reads (not paused) */
  unsigned read_eof : 1;
  unsigned corked : 1;
  unsigned closed : 1;
  int pending_error; /* errno of a failed send, reported from the poll phase */
  char *queue;
  size_t queue_start;
  size_t queue_len;
  size_t queue_cap;
};

#define SCRATCH_BYTES 16384

static napi_value undefined_value(napi_env env) {
  napi_value value;
  napi_get_undefined(env, &value);
  return value;
}

static napi_value int_value(napi_env env, int32_t n) {
  napi_value value;
  napi_create_int32(env, n, &value);
  return value;
}

static napi_value double_value(napi_env env, double n) {
  napi_value value;
  napi_create_double(env, n, &value);
  return value;
}

static int socket_error(int fd) {
  int error = 0;
  socklen_t len = sizeof error;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) return errno;
  return error;
}

static void on_poll(uv_poll_t *handle, int status, int events);

static void update_poll(upstream_socket *s) {
  if (s->closed) return;
  int events = 0;
  if (s->connecting) {
    events = UV_WRITABLE;
  } else {
    if (s->reading && !s->read_eof) events |= UV_READABLE;
    if (s->queue_len > 0 || s->pending_error != 0) events |= UV_WRITABLE;
  }
  if (events == s->events) return;
  s->events = events;
  if (events == 0) uv_poll_stop(&s->poll);
  else uv_poll_start(&s->poll, events, on_poll);
}

/* Calls onEvents(count) with the events listed so far, and empties the list. */
static void deliver_events(instance *inst) {
  size_t count = inst->event_count;
  if (count == 0) return;
  napi_env env = inst->env;
  napi_handle_scope scope;
  napi_value callback, resource, argv[1], result;
  napi_open_handle_scope(env, &scope);
  napi_get_reference_value(env, inst->callback, &callback);
  napi_get_reference_value(env, inst->resource, &resource);
  argv[0] = int_value(env, (int32_t)count);
  /* Emptied first: nothing lists an event while JavaScript runs (events come from on_poll only),
   * and a close during the call still finds the listed events to strike out. */
  inst->event_count = 0;
  inst->read_used = 0;
  inst->delivering = count;
  if (napi_make_callback(env, inst->context, resource, callback, 1, argv, &result) ==
      napi_pending_exception) {
    napi_value exception;
    napi_get_and_clear_last_exception(env, &exception);
    napi_fatal_exception(env, exception); /* as any callback: to 'uncaughtException' */
  }
  inst->delivering = 0;
  napi_close_handle_scope(env, scope);
}

/*
 * Lists an event for the socket; delivers the list first when it is full. Returns nonzero when
 * the socket was closed by that delivery: nothing is listed then, and the caller must not touch
 * the socket (its slot may be another socket's already).
 */
static int emit(upstream_socket *s, int event, int32_t value, size_t offset) {
  instance *inst = s->owner;
  if (inst->event_count == inst->event_capacity) {
    deliver_events(inst);
    if (s->closed) return 1;
  }
  int32_t *at = inst->events + inst->event_count * EVENT_FIELDS;
  at[0] = s->slot;
  at[1] = event;
  at[2] = value;
  at[3] = (int32_t)offset;
  inst->event_count++;
  return 0;
}

static void on_check(uv_check_t *handle) {
  if (handle->data != NULL) deliver_events(handle->data);
}

/* Sends what is queued; a hard error is kept for the poll phase to report. */
static void flush_queue(upstream_socket *s) {
  while (s->queue_len > 0) {
    ssize_t n = send(s->fd, s->queue + s->queue_start, s->queue_len, MSG_NOSIGNAL);
    if (n >= 0) {
      s->queue_start += (size_t)n;
      s->queue_len -= (size_t)n;
    } else if (errno == EINTR) {
      continue;
    } else {
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        s->pending_error = errno;
        s->queue_len = 0;
      }
      break;
    }
  }
  if (s->queue_len == 0) s->queue_start = 0;
}

static int enqueue(upstream_socket *s, const char *data, size_t len) {
  if (s->queue_start > 0 && s->queue_start + s->queue_len + len > s->queue_cap) {
    memmove(s->queue, s->queue + s->queue_start, s->queue_len);
    s->queue_start = 0;
  }
  size_t need = s->queue_start + s->queue_len + len;
  if (need > s->queue_cap) {
    size_t cap = s->queue_cap == 0 ? 4096 : s->queue_cap;
    while (cap < need) cap *= 2;
    char *grown = realloc(s->queue, cap);
    if (grown == NULL) return ENOMEM;
    s->queue = grown;
    s->queue_cap = cap;
  }
  memcpy(s->queue + s->queue_start + s->queue_len, data, len);
  s->queue_len += len;
  return 0;
}

/* Sends `data` now when nothing is queued ahead of it; queues what the kernel did not take. */
static void write_bytes(upstream_socket *s, const char *data, size_t len) {
  if (s->pending_error != 0 || len == 0) return;
  if (s->queue_len == 0 && !s->corked && !s->connecting) {
    while (len > 0) {
      ssize_t n = send(s->fd, data, len, MSG_NOSIGNAL);
      if (n >= 0) {
        data += n;
        len -= (size_t)n;
      } else if (errno == EINTR) {
        continue;
      } else {
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          s->pending_error = errno;
          update_poll(s);
          return;
        }
        break;
      }
    }
    if (len == 0) return;
  }
  int error = enqueue(s, data, len);
  if (error != 0) s->pending_error = error;
  update_poll(s);
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  upstream_socket *s = handle->data;
  if (s->closed) return;
  if (status < 0) {
    /* libuv stopped the handle (POLLERR); the socket's own error says what happened. */
    s->events = 0;
    int error = s->pending_error != 0 ? s->pending_error : socket_error(s->fd);
    emit(s, EV_ERROR, error != 0 ? -error : status, 0);
    return;
  }
  if (s->connecting) {
    if (!(events & UV_WRITABLE)) return;
    int error = socket_error(s->fd);
    if (error != 0) {
      uv_poll_stop(&s->poll);
      s->events = 0;
      emit(s, EV_ERROR, -error, 0);
      return;
    }
    s->connecting = 0;
    if (!s->corked) flush_queue(s);
    update_poll(s);
    emit(s, EV_CONNECT, 0, 0);
    return;
  }
  if (events & UV_WRITABLE) {
    if (s->pending_error != 0) {
      uv_poll_stop(&s->poll);
      s->events = 0;
      emit(s, EV_ERROR, -s->pending_error, 0);
      return;
    }
    if (s->queue_len > 0 && !s->corked) {
      flush_queue(s);
      if (s->pending_error == 0 && s->queue_len == 0) {
        update_poll(s);
        if (emit(s, EV_DRAIN, 0, 0)) return;
      }
    }
  }
  if ((events & UV_READABLE) && s->reading && !s->read_eof) {
    instance *inst = s->owner;
    if (inst->read_buffer_len - inst->read_used < MIN_READ_ROOM ||
        inst->event_count == inst->event_capacity) {
      /* The reads waiting go first (here, not from emit, which would empty the buffer under the
       * read it lists); their owners may close or pause this socket meanwhile. */
      deliver_events(inst);
      if (s->closed) return;
      if (!s->reading) {
        update_poll(s);
        return;
      }
    }
    size_t offset = inst->read_used;
    ssize_t n = recv(s->fd, inst->read_buffer + offset, inst->read_buffer_len - offset, 0);
    if (n > 0) {
      inst->read_used += (size_t)n;
      if (emit(s, EV_READ, (int32_t)n, offset)) return;
    } else if (n == 0) {
      s->read_eof = 1;
      if (emit(s, EV_EOF, 0, 0)) return;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      int error = errno;
      uv_poll_stop(&s->poll);
      s->events = 0;
      emit(s, EV_ERROR, -error, 0);
      return;
    }
  }
  update_poll(s);
}

static upstream_socket *socket_at(instance *inst, napi_env env, napi_value value) {
  int32_t slot;
  if (napi_get_value_int32(env, value, &slot) != napi_ok) return NULL;
  if (slot < 0 || slot >= inst->slot_count) return NULL;
  return inst->slots[slot];
}

static int take_slot(instance *inst) {
  if (inst->free_count > 0) return inst->free_slots[--inst->free_count];
  int count = inst->slot_count == 0 ? 64 : inst->slot_count * 2;
  upstream_socket **slots = realloc(inst->slots, sizeof *slots * (size_t)count);
  if (slots == NULL) return -1;
  inst->slots = slots;
  int *free_slots = realloc(inst->free_slots, sizeof *free_slots * (size_t)count);
  if (free_slots == NULL) return -1;
  inst->free_slots = free_slots;
  for (int i = count - 1; i >= inst->slot_count; i--) {
    inst->slots[i] = NULL;
    inst->free_slots[inst->free_count++] = i;
  }
  inst->slot_count = count;
  return inst->free_slots[--inst->free_count];
}

static void on_check_closed(uv_handle_t *handle) {
  free(handle);
}

/* The environment is going away: the check handle goes with it (its memory is its own, so the
 * instance may be freed before libuv is done closing it). */
static void stop_check(void *data) {
  instance *inst = data;
  if (inst->check == NULL) return;
  inst->check->data = NULL;
  uv_close((uv_handle_t *)inst->check, on_check_closed);
  inst->check = NULL;
}

/*
 * init(readBuffer: Buffer, events: Int32Array, onEvents: (count) => void): once per
 * environment. `events` holds EVENT_FIELDS int32 per event; onEvents(count) reads the first
 * `count` of them.
 */
static napi_value js_init(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], resource, name;
  instance *inst;
  napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&inst);
  void *data;
  size_t len;
  napi_typedarray_type type;
  size_t length;
  void *events;
  if (argc < 3 || napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok ||
      len < MIN_READ_ROOM ||
      napi_get_typedarray_info(env, argv[1], &type, &length, &events, NULL, NULL) != napi_ok ||
      type != napi_int32_array || length < EVENT_FIELDS) {
    napi_throw_type_error(env, NULL, "init(readBuffer (16 KiB or more), events: Int32Array, onEvents)");
    return NULL;
  }
  if (inst->callback != NULL) {
    napi_throw_error(env, NULL, "upstream sockets are initialised once per thread");
    return NULL;
  }
  uv_check_t *check = malloc(sizeof *check);
  if (check == NULL || uv_check_init(inst->loop, check) != 0) {
    free(check);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  check->data = inst;
  /* Started now, after Node's own check handle: libuv runs the later one first, so events are
   * delivered before the turn's immediates run. Unreferenced: it keeps no loop alive. */
  uv_check_start(check, on_check);
  uv_unref((uv_handle_t *)check);
  inst->check = check;
  napi_add_env_cleanup_hook(env, stop_check, inst);
  inst->read_buffer = data;
  inst->read_buffer_len = len;
  inst->events = events;
  inst->event_capacity = length / EVENT_FIELDS;
  napi_create_reference(env, argv[0], 1, &inst->read_buffer_ref);
  napi_create_reference(env, argv[1], 1, &inst->events_ref);
  napi_create_reference(env, argv[2], 1, &inst->callback);
  napi_create_object(env, &resource);
  napi_create_reference(env, resource, 1, &inst->resource);
  napi_create_string_utf8(env, "PortcullisUpstreamSocket", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, resource, name, &inst->context);
  inst->scratch = malloc(SCRATCH_BYTES);
  inst->scratch_cap = inst->scratch == NULL ? 0 : SCRATCH_BYTES;
  return undefined_value(env);
}

/* open(address: string (IPv4 or IPv6 literal), port): slot, or -errno. */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  instance *inst;
  napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&inst);
  char address[64];
  size_t address_len;
  int32_t port;
  if (inst->callback == NULL || argc < 2 ||
      napi_get_value_string_latin1(env, argv[0], address, sizeof address, &address_len) !=
          napi_ok ||
      napi_get_value_int32(env, argv[1], &port) != napi_ok || port <= 0 || port > 65535) {
    return int_value(env, -EINVAL);
  }
  struct sockaddr_storage storage;
  socklen_t storage_len;
  memset(&storage, 0, sizeof storage);
  int family = strchr(address, ':') != NULL ? AF_INET6 : AF_INET;
  if (family == AF_INET6) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&storage;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, address, &in6->sin6_addr) != 1) return int_value(env, -EINVAL);
    storage_len = sizeof *in6;
  } else {
    struct sockaddr_in *in4 = (struct sockaddr_in *)&storage;
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, address, &in4->sin_addr) != 1) return int_value(env, -EINVAL);
    storage_len = sizeof *in4;
  }
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return int_value(env, -errno);
  int on = 1, idle = 60;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  if (connect(fd, (struct sockaddr *)&storage, storage_len) != 0 && errno != EINPROGRESS) {
    int error = errno;
    close(fd);
    return int_value(env, -error);
  }
  upstream_socket *s = calloc(1, sizeof *s);
  int slot = s == NULL ? -1 : take_slot(inst);
  if (slot < 0) {
    free(s);
    close(fd);
    return int_value(env, -ENOMEM);
  }
  int error = uv_poll_init_socket(inst->loop, &s->poll, fd);
  if (error != 0) {
    inst->free_slots[inst->free_count++] = slot;
    free(s);
    close(fd);
    return int_value(env, error);
  }
  s->poll.data = s;
  s->owner = inst;
  s->fd = fd;
  s->slot = slot;
  s->connecting = 1;
  s->reading = 1;
  inst->slots[slot] = s;
  update_poll(s);
  return int_value(env, slot);
}

/* Reads `count` arguments into argv; the first is a slot: its socket, or NULL when closed. */
static upstream_socket *socket_args(napi_env env, napi_callback_info info, size_t count,
                                    napi_value *argv) {
  size_t argc = count;
  instance *inst;
  napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&inst);
  return argc < count ? NULL : socket_at(inst, env, argv[0]);
}

/* The (slot, on) arguments of cork() and read(). */
static upstream_socket *socket_and_flag(napi_env env, napi_callback_info info, bool *on) {
  napi_value argv[2];
  upstream_socket *s = socket_args(env, info, 2, argv);
  if (s == NULL || napi_get_value_bool(env, argv[1], on) != napi_ok) return NULL;
  return s;
}

/* write(slot, data: string (latin1) | Uint8Array): bytes left queued, or -1 for a closed slot. */
static napi_value js_write(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  upstream_socket *s = socket_args(env, info, 2, argv);
  if (s == NULL) return int_value(env, -1);
  instance *inst = s->owner;
  napi_valuetype type;
  napi_typeof(env, argv[1], &type);
  if (type == napi_string) {
    size_t len;
    napi_get_value_string_latin1(env, argv[1], inst->scratch, inst->scratch_cap, &len);
    if (len + 1 >= inst->scratch_cap) {
      /* Possibly cut short: size the scratch to the string and copy again. */
      napi_get_value_string_latin1(env, argv[1], NULL, 0, &len);
      if (len + 1 > inst->scratch_cap) {
        char *grown = realloc(inst->scratch, len + 1);
        if (grown == NULL) {
          s->pending_error = ENOMEM;
          update_poll(s);
          return double_value(env, (double)s->queue_len);
        }
        inst->scratch = grown;
        inst->scratch_cap = len + 1;
      }
      napi_get_value_string_latin1(env, argv[1], inst->scratch, inst->scratch_cap, &len);
    }
    write_bytes(s, inst->scratch, len);
  } else {
    napi_typedarray_type array_type;
    size_t length;
    void *data;
    if (napi_get_typedarray_info(env, argv[1], &array_type, &length, &data, NULL, NULL) !=
            napi_ok ||
        array_type != napi_uint8_array) {
      napi_throw_type_error(env, NULL, "write(slot, string | Uint8Array)");
      return NULL;
    }
    write_bytes(s, data, length);
  }
  return double_value(env, (double)s->queue_len);
}

/* Heads up to this many characters are checked here; longer ones by the caller's expression. */
#define FIELD_CHECK_MAX_CHARS 8192

/* tchar (RFC 9110 §5.6.2), by byte. */
static unsigned char TCHAR[256];

static void init_tchar(void) {
  for (int c = '0'; c <= '9'; c++) TCHAR[c] = 1;
  for (int c = 'A'; c <= 'Z'; c++) TCHAR[c] = 1;
  for (int c = 'a'; c <= 'z'; c++) TCHAR[c] = 1;
  for (const char *p = "!#$%&'*+-.^_`|~"; *p != 0; p++) TCHAR[(unsigned char)*p] = 1;
}

/*
 * checkFieldSection(head: string, lines, start, end): whether characters [start, end) of `head`
 * are exactly `lines` lines of token ": " field-value CRLF (RFC 9110 §5.1, §5.5), for the request
 * writer (src/proxy/h1/request.ts), which checks the range of the whole head it will write: the
 * head is flattened once, here, and written flat. A JavaScript expression's cost grows with each
 * character, and a bearer token makes a head long. The head is read as
 * UTF-16: V8 widens a one-byte string with a plain copy, where a UTF-8 read encodes it character
 * by character (that read cost more than the check itself), and every character keeps its code,
 * so one past U+00FF is refused rather than cut to a byte. undefined for a head over
 * FIELD_CHECK_MAX_CHARS or a range outside it: the caller's expression judges it.
 */
static napi_value js_check_field_section(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t expected = 0, start = 0, end = 0;
  /* One unit more than the limit: a longer head fills it, and is left to the caller. */
  char16_t text[FIELD_CHECK_MAX_CHARS + 2];
  size_t n = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 ||
      napi_get_value_int32(env, argv[1], &expected) != napi_ok ||
      napi_get_value_int32(env, argv[2], &start) != napi_ok ||
      napi_get_value_int32(env, argv[3], &end) != napi_ok ||
      napi_get_value_string_utf16(env, argv[0], text, FIELD_CHECK_MAX_CHARS + 2, &n) != napi_ok ||
      n > FIELD_CHECK_MAX_CHARS || start < 0 || start > end || (size_t)end > n) {
    return undefined_value(env);
  }
  const char16_t *b = text;
  size_t i = (size_t)start, limit = (size_t)end;
  int32_t lines = 0;
  bool ok = true;
  while (ok && i < limit) {
    size_t name = i;
    while (i < limit && b[i] < 256 && TCHAR[b[i]]) i++;
    if (i == name || i + 1 >= limit || b[i] != ':' || b[i + 1] != ' ') {
      ok = false;
      break;
    }
    /* field-value: HTAB, VCHAR, SP and obs-text (0x80-0xFF); no other control. */
    for (i += 2; i < limit && (b[i] == '\t' || (b[i] >= 0x20 && b[i] != 0x7f && b[i] < 256)); i++) {
    }
    if (i + 1 >= limit || b[i] != '\r' || b[i + 1] != '\n') ok = false;
    i += 2;
    lines++;
  }
  napi_value result;
  napi_get_boolean(env, ok && lines == expected, &result);
  return result;
}

/* cork(slot, on): while corked, writes are queued; uncorking sends them together. Returns the
 * bytes still queued, or -1 for a closed slot. */
static napi_value js_cork(napi_env env, napi_callback_info info) {
  bool on = false;
  upstream_socket *s = socket_and_flag(env, info, &on);
  if (s == NULL) return int_value(env, -1);
  s->corked = on;
  if (!on && !s->connecting && s->queue_len > 0) {
    flush_queue(s);
    update_poll(s);
  }
  return double_value(env, (double)s->queue_len);
}

/* read(slot, on): pause (false) or resume (true) reading. */
static napi_value js_read(napi_env env, napi_callback_info info) {
  bool on = false;
  upstream_socket *s = socket_and_flag(env, info, &on);
  if (s == NULL) return NULL;
  s->reading = on;
  update_poll(s);
  return NULL;
}

static void free_instance(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  instance *inst = data;
  /* The environment is going away: its loop closed every handle already. */
  free(inst->slots);
  free(inst->free_slots);
  free(inst->scratch);
  free(inst);
}

static void on_closed(uv_handle_t *handle) {
  upstream_socket *s = handle->data;
  close(s->fd);
  free(s->queue);
  free(s);
}

/* close(slot): no event comes for the slot afterwards, not even one already listed; the slot may
 * be handed out again. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  upstream_socket *s = socket_args(env, info, 1, argv);
  if (s == NULL) return NULL;
  instance *inst = s->owner;
  s->closed = 1;
  /* Its listed events must not reach the next socket given the slot. */
  size_t listed = inst->event_count > inst->delivering ? inst->event_count : inst->delivering;
  for (size_t i = 0; i < listed; i++) {
    if (inst->events[i * EVENT_FIELDS] == s->slot) inst->events[i * EVENT_FIELDS] = -1;
  }
  inst->slots[s->slot] = NULL;
  inst->free_slots[inst->free_count++] = s->slot;
  uv_close((uv_handle_t *)&s->poll, on_closed);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  instance *inst = calloc(1, sizeof *inst);
  if (inst == NULL || napi_set_instance_data(env, inst, free_instance, NULL) != napi_ok) {
    free(inst);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  inst->env = env;
  napi_get_uv_event_loop(env, &inst->loop);
  init_tchar();
  napi_property_descriptor properties[] = {
      {"init", NULL, js_init, NULL, NULL, NULL, napi_default, inst},
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, inst},
      {"write", NULL, js_write, NULL, NULL, NULL, napi_default, inst},
      {"cork", NULL, js_cork, NULL, NULL, NULL, napi_default, inst},
      {"read", NULL, js_read, NULL, NULL, NULL, napi_default, inst},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, inst},
      {"checkFieldSection", NULL, js_check_field_section, NULL, NULL, NULL, napi_default, inst},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
