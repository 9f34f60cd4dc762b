/*
 * paced-load: the native engine of the bench's paced (open-loop) loader.
 *
 *   paced-load --host H --port P --connections N --rate R --warmup S --duration S --timeout S
 *              --requests FILE
 *
 * Why native: under --pin the loader shares a core with the bench upstream. The Node loader
 * (bench/paced-client.ts) cost ~27 µs of CPU per request at 15,000 req/s and sent in 1 ms bursts
 * (its setTimeout tick), so its own queueing, not the target, set the fixed-rate p99 (30-270 ms
 * against the upstream alone). This program sends each request at its own due time, from a
 * timerfd, and spends a few syscalls per request.
 *
 * It speaks the same line protocol as bench/load.ts (bench/protocol.ts): runs its warm-up, prints
 * {"event":"warmed"}, waits for a line `go` on stdin, runs the measured window and prints
 * {"event":"result","result":{...}} with the fields of the paced engine's LoadResult; on failure
 * {"event":"error","message":...} and a non-zero exit.
 *
 * FILE (written by bench/paced-native.ts), little-endian:
 *   u32 count, then per request: u8 flags (bit 0: HEAD, no body expected), u32 length, bytes.
 * Requests are sent round-robin across the whole run, warm-up included, whatever the connection.
 *
 * Open loop: request i of a run is due at start + i/rate. A due request goes out on an idle
 * connection at once, else waits (FIFO) for one; a slow target cannot slow the offered load.
 *   latency    from the hand-off (the loader handing the request to a connection, or to the queue
 *              when none is idle) to the response's last byte;
 *   scheduled  from the due time to the last byte, so the loader's own lag shows there.
 * HTTP/1.1 keep-alive, one request in flight per connection. Connections open lazily, up to N,
 * and reopen lazily after an error or `Connection: close`; the warm-up's stay open for the window.
 *
 * Build: cc -O2 -Wall -Wextra -o paced-load paced-load.c   (Linux: epoll, timerfd)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S 1000000000LL
#define NS_PER_MS 1e6
/* A response head, a chunk-size line or a trailer line longer than this is a protocol error. */
#define PENDING_MAX 16384
#define READ_SIZE 65536
#define MAX_EVENTS 128
/* epoll data of the two fds that are not connections. */
#define TAG_TIMER UINT32_MAX
#define TAG_STDIN (UINT32_MAX - 1)
/* Beyond warm-up + window + timeouts, as bench/load.ts allows itself. */
#define BUDGET_MARGIN_S 60
#define PARENT_CHECK_NS NS_PER_S

/* ---- options and requests ------------------------------------------------------------------- */

static struct {
    const char *host;
    const char *port;
    const char *requests;
    int connections;
    double rate;
    double warmup;
    double duration;
    double timeout;
} opt = {.host = "127.0.0.1", .connections = 64, .timeout = 10};

typedef struct {
    const uint8_t *bytes;
    uint32_t length;
    bool no_body;
} request_t;

static request_t *requests;
static uint32_t request_count;
/* The next request to send: round-robin over the list, carried from the warm-up into the window. */
static uint32_t next_request;

/* ---- output ---------------------------------------------------------------------------------- */

static void emit(const char *line) {
    fputs(line, stdout);
    fputc('\n', stdout);
    fflush(stdout);
}

/* {"event":"error",...} and exit 1. The message is escaped for JSON. */
static void die(const char *format, ...) {
    char message[512];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    fputs("{\"event\":\"error\",\"message\":\"", stdout);
    for (const char *p = message; *p != '\0'; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"' || ch == '\\') printf("\\%c", ch);
        else if (ch < 0x20) printf("\\u%04x", ch);
        else putchar(ch);
    }
    fputs("\"}\n", stdout);
    fflush(stdout);
    exit(1);
}

/* Prebuilt, so the SIGALRM handler only has to write(2) it. */
static char budget_message[128];

static void on_budget(int signal) {
    (void)signal;
    ssize_t ignored = write(STDOUT_FILENO, budget_message, strlen(budget_message));
    (void)ignored;
    _exit(3);
}

/* ---- time ------------------------------------------------------------------------------------ */

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* ---- runs: the warm-up, then the measured window --------------------------------------------- */

typedef struct {
    int64_t start;
    double interval_ns;
    int64_t total;
    int64_t issued;
    /* Completed or failed: the run is over when every request has settled (or at its deadline). */
    int64_t settled;
    int64_t recorded;
    int64_t errors;
    int64_t timeouts;
    int64_t max_lag_ns;
    int64_t last_end;
    int64_t *service;   /* ns, from the hand-off */
    int64_t *scheduled; /* ns, from the due time */
    uint64_t status_counts[1000];
    /* Requests waiting for a free connection, FIFO: each id is queued at most once per run. */
    uint32_t *queue_id;
    int64_t *queue_at;
    int64_t queue_head;
    int64_t queue_tail;
} run_t;

static run_t *run;

static int64_t due_at(const run_t *r, int64_t id) {
    return r->start + (int64_t)((double)id * r->interval_ns);
}

static void record_completion(int status, uint32_t id, int64_t handed_off, int64_t end) {
    run->service[run->recorded] = end - handed_off;
    run->scheduled[run->recorded] = end - due_at(run, id);
    run->recorded++;
    run->last_end = end;
    run->status_counts[status]++;
    run->settled++;
}

static void record_error(bool timeout) {
    run->errors++;
    if (timeout) run->timeouts++;
    run->settled++;
}

/* ---- connections ----------------------------------------------------------------------------- */

enum framing { F_HEAD, F_LENGTH, F_CHUNK_SIZE, F_CHUNK_DATA, F_TRAILERS, F_UNTIL_CLOSE };

typedef struct {
    int fd; /* -1: closed, opened by the next send */
    bool busy;
    /* EPOLLOUT is registered: the request did not fit in the socket at once (or it connects). */
    bool wants_out;
    /* The request in flight. */
    uint32_t id;
    int64_t handed_off;
    int64_t deadline;
    const uint8_t *out;
    size_t out_left;
    bool no_body;
    /* Its response so far. */
    enum framing framing;
    uint64_t remaining;
    int status;
    bool close_after;
    size_t pending_len;
    char pending[PENDING_MAX];
} conn_t;

static conn_t *conns;
static int conns_used;
/* Connections with nothing in flight, LIFO (as paced-client.ts's idle list). */
static conn_t **idle;
static int idle_count;
/* No request in flight times out before this; recomputed by the scan it triggers. */
static int64_t earliest_deadline = INT64_MAX;

static int epoll_fd;
static int timer_fd;
static struct addrinfo *target;

static uint32_t conn_tag(const conn_t *c) {
    return (uint32_t)(c - conns);
}

static void set_wants_out(conn_t *c, bool want) {
    if (c->wants_out == want) return;
    struct epoll_event event = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.u32 = conn_tag(c)};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &event) != 0) die("epoll_ctl: %s", strerror(errno));
    c->wants_out = want;
}

/* Closing the fd also takes it out of the epoll set. */
static void conn_drop(conn_t *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->wants_out = false;
    c->pending_len = 0;
}

static int conn_open(conn_t *c) {
    int fd = socket(target->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, target->ai_addr, target->ai_addrlen) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    struct epoll_event event = {.events = EPOLLIN, .data.u32 = conn_tag(c)};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) die("epoll_ctl: %s", strerror(errno));
    c->fd = fd;
    c->wants_out = false;
    c->pending_len = 0;
    return 0;
}

/* Writes what the socket takes; the rest waits for EPOLLOUT (a connecting socket takes nothing). */
static int conn_flush(conn_t *c) {
    while (c->out_left > 0) {
        ssize_t n = send(c->fd, c->out, c->out_left, MSG_NOSIGNAL);
        if (n > 0) {
            c->out += n;
            c->out_left -= (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_wants_out(c, true);
            return 0;
        } else {
            return -1;
        }
    }
    set_wants_out(c, false);
    return 0;
}

/* Puts the next request of the list in flight on c. -1: it failed at once (c is closed, idle). */
static int conn_start(conn_t *c, uint32_t id, int64_t handed_off) {
    const request_t *request = &requests[next_request];
    next_request = (next_request + 1) % request_count;
    c->busy = true;
    c->id = id;
    c->handed_off = handed_off;
    c->deadline = now_ns() + (int64_t)(opt.timeout * NS_PER_S);
    if (c->deadline < earliest_deadline) earliest_deadline = c->deadline;
    c->out = request->bytes;
    c->out_left = request->length;
    c->no_body = request->no_body;
    c->framing = F_HEAD;
    c->status = 0;
    c->close_after = false;
    c->pending_len = 0;
    if ((c->fd < 0 && conn_open(c) != 0) || conn_flush(c) != 0) {
        conn_drop(c);
        c->busy = false;
        return -1;
    }
    return 0;
}

/* c is free: it takes the oldest queued request, else goes idle. */
static void release(conn_t *c) {
    while (run->queue_head < run->queue_tail) {
        int64_t at = run->queue_head++;
        if (conn_start(c, run->queue_id[at], run->queue_at[at]) == 0) return;
        record_error(false);
    }
    idle[idle_count++] = c;
}

/* The request in flight on c failed (a timeout, a connection error, a response that does not
 * parse): counted as an error, the connection closed (it reopens on its next send). */
static void conn_fail(conn_t *c, bool timeout) {
    conn_drop(c);
    if (!c->busy) return; /* an idle connection closed: already in the idle list */
    c->busy = false;
    record_error(timeout);
    release(c);
}

static void conn_complete(conn_t *c) {
    record_completion(c->status, c->id, c->handed_off, now_ns());
    c->busy = false;
    if (c->close_after) conn_drop(c);
    release(c);
}

/* Hands request `id`, due now or earlier, to an idle connection or to the queue. */
static void submit(uint32_t id, int64_t now) {
    conn_t *c = NULL;
    if (idle_count > 0) c = idle[--idle_count];
    else if (conns_used < opt.connections) c = &conns[conns_used++];
    if (c == NULL) {
        run->queue_id[run->queue_tail] = id;
        run->queue_at[run->queue_tail] = now;
        run->queue_tail++;
        return;
    }
    if (conn_start(c, id, now) != 0) {
        record_error(false);
        idle[idle_count++] = c; /* the queue is empty while a connection is idle */
    }
}

/* ---- response framing ------------------------------------------------------------------------ */

typedef enum { P_MORE, P_DONE, P_BAD } parse_t;

static bool has_token(const char *value, size_t length, const char *token) {
    size_t n = strlen(token);
    for (size_t i = 0; i + n <= length; i++) {
        if (strncasecmp(value + i, token, n) == 0) return true;
    }
    return false;
}

static bool name_is(const char *name, size_t length, const char *wanted) {
    return length == strlen(wanted) && strncasecmp(name, wanted, length) == 0;
}

/* The status line and the fields framing needs; sets c->framing. A 1xx head leaves F_HEAD. */
static bool parse_head(conn_t *c, const char *head, size_t length) {
    if (length < 12 || head[8] != ' ') return false;
    int status = 0;
    for (int i = 9; i < 12; i++) {
        if (head[i] < '0' || head[i] > '9') return false;
        status = status * 10 + (head[i] - '0');
    }
    if (status >= 100 && status < 200) return true; /* 100 Continue and friends: the next head */
    c->status = status;
    bool chunked = false;
    bool has_length = false;
    uint64_t content_length = 0;
    const char *end = head + length;
    const char *line = memchr(head, '\n', length);
    while (line != NULL && ++line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        const char *stop = eol == NULL ? end : eol;
        const char *colon = memchr(line, ':', (size_t)(stop - line));
        if (colon != NULL) {
            const char *value = colon + 1;
            const char *value_end = stop;
            while (value < value_end && (*value == ' ' || *value == '\t')) value++;
            while (value_end > value && (value_end[-1] == '\r' || value_end[-1] == ' ' ||
                                         value_end[-1] == '\t'))
                value_end--;
            size_t name_length = (size_t)(colon - line);
            size_t value_length = (size_t)(value_end - value);
            if (name_is(line, name_length, "content-length")) {
                if (value_length == 0) return false;
                content_length = 0;
                for (const char *p = value; p < value_end; p++) {
                    if (*p < '0' || *p > '9' || content_length > UINT64_MAX / 10 - 10) return false;
                    content_length = content_length * 10 + (uint64_t)(*p - '0');
                }
                has_length = true;
            } else if (name_is(line, name_length, "transfer-encoding")) {
                chunked = chunked || has_token(value, value_length, "chunked");
            } else if (name_is(line, name_length, "connection")) {
                c->close_after = c->close_after || has_token(value, value_length, "close");
            }
        }
        line = eol;
    }
    if (c->no_body || status == 204 || status == 304) {
        c->framing = F_LENGTH;
        c->remaining = 0;
    } else if (chunked) {
        c->framing = F_CHUNK_SIZE;
    } else if (has_length) {
        c->framing = F_LENGTH;
        c->remaining = content_length;
    } else {
        c->framing = F_UNTIL_CLOSE;
    }
    return true;
}

/* A chunk-size line: hex digits, then optional extensions after ';'. */
static bool parse_chunk_size(const char *line, const char *eol, uint64_t *size) {
    uint64_t value = 0;
    const char *p = line;
    for (; p < eol; p++) {
        int digit;
        if (*p >= '0' && *p <= '9') digit = *p - '0';
        else if (*p >= 'a' && *p <= 'f') digit = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'F') digit = *p - 'A' + 10;
        else break;
        if (value > (UINT64_MAX >> 4) - 16) return false;
        value = value << 4 | (uint64_t)digit;
    }
    if (p == line) return false;
    if (p < eol && *p != ';' && *p != '\r' && *p != ' ' && *p != '\t') return false;
    *size = value;
    return true;
}

/* An incomplete head or line waits in c->pending for the next read. */
static parse_t keep(conn_t *c, const char *data, size_t length) {
    if (length > PENDING_MAX) return P_BAD;
    memcpy(c->pending, data, length);
    c->pending_len = length;
    return P_MORE;
}

/* Bytes after the response: one request at a time, so framing can no longer be trusted. */
static parse_t done(conn_t *c, size_t left_over) {
    if (left_over > 0) c->close_after = true;
    return P_DONE;
}

static parse_t parse(conn_t *c, const char *data, size_t length) {
    size_t at = 0;
    for (;;) {
        switch (c->framing) {
        case F_HEAD: {
            const char *end = memmem(data + at, length - at, "\r\n\r\n", 4);
            if (end == NULL) return keep(c, data + at, length - at);
            size_t head_length = (size_t)(end - (data + at));
            if (!parse_head(c, data + at, head_length)) return P_BAD;
            at += head_length + 4;
            continue;
        }
        case F_LENGTH:
        case F_CHUNK_DATA: {
            size_t available = length - at;
            size_t take = c->remaining < available ? (size_t)c->remaining : available;
            c->remaining -= take;
            at += take;
            if (c->remaining > 0) return P_MORE;
            if (c->framing == F_LENGTH) return done(c, length - at);
            c->framing = F_CHUNK_SIZE;
            continue;
        }
        case F_CHUNK_SIZE: {
            const char *eol = memchr(data + at, '\n', length - at);
            if (eol == NULL) return keep(c, data + at, length - at);
            uint64_t size;
            if (!parse_chunk_size(data + at, eol, &size)) return P_BAD;
            at = (size_t)(eol - data) + 1;
            /* The chunk's data is followed by its own CRLF: counted as part of it. */
            c->framing = size == 0 ? F_TRAILERS : F_CHUNK_DATA;
            c->remaining = size + 2;
            continue;
        }
        case F_TRAILERS: {
            /* Trailer lines until an empty one; usually just the empty one. */
            const char *eol = memchr(data + at, '\n', length - at);
            if (eol == NULL) return keep(c, data + at, length - at);
            size_t line_length = (size_t)(eol - (data + at));
            bool empty = line_length == 0 || (line_length == 1 && data[at] == '\r');
            at += line_length + 1;
            if (empty) return done(c, length - at);
            continue;
        }
        case F_UNTIL_CLOSE:
            return P_MORE;
        }
    }
}

/* ---- events ---------------------------------------------------------------------------------- */

/* One read per readiness: epoll is level-triggered, so whatever is left is reported again. */
static void conn_readable(conn_t *c) {
    static char buffer[PENDING_MAX + READ_SIZE];
    size_t kept = c->pending_len;
    memcpy(buffer, c->pending, kept);
    ssize_t n = read(c->fd, buffer + kept, READ_SIZE);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) conn_fail(c, false);
        return;
    }
    if (n == 0) {
        if (c->busy && c->framing == F_UNTIL_CLOSE) {
            c->close_after = true;
            conn_complete(c);
        } else {
            conn_fail(c, false); /* mid-response: an error; idle: just closed */
        }
        return;
    }
    if (!c->busy) {
        conn_drop(c); /* bytes nobody asked for: the connection is out of step */
        return;
    }
    c->pending_len = 0;
    switch (parse(c, buffer, kept + (size_t)n)) {
    case P_MORE:
        return;
    case P_DONE:
        conn_complete(c);
        return;
    case P_BAD:
        conn_fail(c, false);
        return;
    }
}

static void conn_event(conn_t *c, uint32_t events) {
    if (c->fd >= 0 && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) conn_readable(c);
    /* The read may have finished the request and started the next one, even on a new socket:
     * flushing it again is harmless (the socket takes what it can). */
    if (c->fd >= 0 && c->busy && (events & EPOLLOUT) && c->out_left > 0) {
        if (conn_flush(c) != 0) conn_fail(c, false);
    }
}

/* Fails every request past its timeout; sets the next time worth looking again. */
static void check_timeouts(int64_t now) {
    if (now < earliest_deadline) return;
    int64_t next = INT64_MAX;
    for (int i = 0; i < conns_used; i++) {
        conn_t *c = &conns[i];
        if (c->busy && c->deadline <= now) conn_fail(c, true);
        /* conn_fail may have started a queued request on c. */
        if (c->busy && c->deadline < next) next = c->deadline;
    }
    earliest_deadline = next;
}

static pid_t parent;
static int64_t next_parent_check;

static void check_parent(int64_t now) {
    if (now < next_parent_check) return;
    next_parent_check = now + PARENT_CHECK_NS;
    if (getppid() != parent) exit(4);
}

static int64_t armed_at = -1;

/* Sleeps in epoll until `wake` (absolute, CLOCK_MONOTONIC) or an event; handles the events.
 * A timerfd rather than epoll_wait's millisecond timeout: sends are 67 µs apart at 15,000 req/s.
 * Edge-triggered and never read: re-arming resets it. */
static void poll_until(int64_t wake, void (*on_stdin)(void)) {
    if (wake != armed_at) {
        struct itimerspec spec = {.it_value = {.tv_sec = wake / NS_PER_S, .tv_nsec = wake % NS_PER_S}};
        if (timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &spec, NULL) != 0) {
            die("timerfd_settime: %s", strerror(errno));
        }
        armed_at = wake;
    }
    struct epoll_event events[MAX_EVENTS];
    int n = epoll_wait(epoll_fd, events, MAX_EVENTS, -1);
    if (n < 0) {
        if (errno == EINTR) return;
        die("epoll_wait: %s", strerror(errno));
    }
    for (int i = 0; i < n; i++) {
        uint32_t tag = events[i].data.u32;
        if (tag == TAG_TIMER) continue;
        if (tag == TAG_STDIN) on_stdin();
        else conn_event(&conns[tag], events[i].events);
    }
}

static int64_t min64(int64_t a, int64_t b) {
    return a < b ? a : b;
}

/* Everything due by now goes out, at this one hand-off time. */
static void issue_due(int64_t now) {
    if (run->issued >= run->total || due_at(run, run->issued) > now) return;
    int64_t lag = now - due_at(run, run->issued);
    if (lag > run->max_lag_ns) run->max_lag_ns = lag;
    while (run->issued < run->total && due_at(run, run->issued) <= now) {
        submit((uint32_t)run->issued, now);
        run->issued++;
    }
}

/* The run's deadline passed with requests still out (queued ones have no timeout of their own):
 * they count as errors and their connections close, so none reports into the next run. */
static void abandon(void) {
    run->errors += run->total - run->settled;
    run->settled = run->total;
    idle_count = 0;
    for (int i = 0; i < conns_used; i++) {
        conn_t *c = &conns[i];
        if (c->busy) conn_drop(c);
        c->busy = false;
        idle[idle_count++] = c;
    }
    earliest_deadline = INT64_MAX;
}

static void run_init(run_t *r, double seconds) {
    memset(r, 0, sizeof *r);
    r->total = (int64_t)(opt.rate * seconds);
    if (r->total < 1) r->total = 1;
    if (r->total > UINT32_MAX) die("rate × duration is too many requests");
    r->interval_ns = NS_PER_S / opt.rate;
    size_t n = (size_t)r->total;
    r->service = malloc(n * sizeof *r->service);
    r->scheduled = malloc(n * sizeof *r->scheduled);
    r->queue_id = malloc(n * sizeof *r->queue_id);
    r->queue_at = malloc(n * sizeof *r->queue_at);
    if (!r->service || !r->scheduled || !r->queue_id || !r->queue_at) die("out of memory");
    /* Touched now, not inside the window. */
    memset(r->service, 0, n * sizeof *r->service);
    memset(r->scheduled, 0, n * sizeof *r->scheduled);
    memset(r->queue_id, 0, n * sizeof *r->queue_id);
    memset(r->queue_at, 0, n * sizeof *r->queue_at);
}

static void run_free(run_t *r) {
    free(r->service);
    free(r->scheduled);
    free(r->queue_id);
    free(r->queue_at);
}

static void no_stdin(void) {}

/* One open-loop run of `seconds`; returns once every request has settled or at the run's
 * deadline (the last send + a timeout + 1 s, as bench/load.ts). */
static void run_paced(run_t *r, double seconds) {
    run = r;
    r->start = now_ns();
    int64_t deadline = r->start + (int64_t)((seconds + opt.timeout + 1) * NS_PER_S);
    while (r->settled < r->total) {
        int64_t now = now_ns();
        if (now >= deadline) {
            abandon();
            break;
        }
        issue_due(now);
        check_timeouts(now);
        check_parent(now);
        if (r->settled >= r->total) break;
        int64_t wake = min64(deadline, min64(earliest_deadline, next_parent_check));
        if (r->issued < r->total) wake = min64(wake, due_at(r, r->issued));
        poll_until(wake, no_stdin);
    }
}

/* ---- waiting for `go` ------------------------------------------------------------------------ */

static char stdin_line[64];
static size_t stdin_length;
static bool go;

static void read_stdin(void) {
    char chunk[256];
    ssize_t n = read(STDIN_FILENO, chunk, sizeof chunk);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) die("stdin closed before go");
    for (ssize_t i = 0; i < n && !go; i++) {
        if (chunk[i] != '\n') {
            if (stdin_length < sizeof stdin_line - 1) stdin_line[stdin_length++] = chunk[i];
            continue;
        }
        stdin_line[stdin_length] = '\0';
        stdin_length = 0;
        char *word = stdin_line;
        while (*word == ' ' || *word == '\t') word++;
        size_t length = strlen(word);
        while (length > 0 && strchr(" \t\r", word[length - 1]) != NULL) word[--length] = '\0';
        go = strcmp(word, "go") == 0;
    }
}

/* Connections stay in epoll meanwhile, so one the server closes is noticed (and reopened lazily)
 * rather than failing the window's first request. */
static void wait_for_go(void) {
    struct epoll_event event = {.events = EPOLLIN, .data.u32 = TAG_STDIN};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, STDIN_FILENO, &event) != 0) {
        /* A regular file (or /dev/null) cannot be polled: plain blocking reads. */
        while (!go) read_stdin();
        return;
    }
    while (!go) {
        int64_t now = now_ns();
        check_parent(now);
        poll_until(next_parent_check, read_stdin);
    }
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, STDIN_FILENO, NULL);
}

/* ---- result ---------------------------------------------------------------------------------- */

static int compare_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Exact percentiles, as summarise() in bench/load.ts: sorted[min(n - 1, floor(q × n))]. */
static void print_summary(const char *name, int64_t *values, int64_t n) {
    if (n == 0) return; /* undefined in the JS result: the field is left out */
    qsort(values, (size_t)n, sizeof *values, compare_i64);
    static const double quantiles[] = {0.5, 0.9, 0.99, 0.999};
    static const char *const names[] = {"p50", "p90", "p99", "p999"};
    printf(",\"%s\":{", name);
    for (int i = 0; i < 4; i++) {
        int64_t at = (int64_t)(quantiles[i] * (double)n);
        if (at > n - 1) at = n - 1;
        printf("\"%s\":%.6f,", names[i], (double)values[at] / NS_PER_MS);
    }
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += (double)values[i];
    printf("\"max\":%.6f,\"mean\":%.6f}", (double)values[n - 1] / NS_PER_MS,
           sum / (double)n / NS_PER_MS);
}

static void print_result(run_t *r) {
    int64_t end = r->recorded > 0 ? r->last_end : now_ns();
    printf("{\"event\":\"result\",\"result\":{\"engine\":\"paced\",\"elapsedSeconds\":%.6f,"
           "\"completed\":%" PRId64 ",\"errors\":%" PRId64 ",\"timeouts\":%" PRId64
           ",\"statusCounts\":{",
           (double)(end - r->start) / NS_PER_S, r->recorded, r->errors, r->timeouts);
    const char *separator = "";
    for (int status = 0; status < 1000; status++) {
        if (r->status_counts[status] == 0) continue;
        printf("%s\"%d\":%" PRIu64, separator, status, r->status_counts[status]);
        separator = ",";
    }
    putchar('}');
    print_summary("latencyMs", r->service, r->recorded);
    print_summary("scheduledLatencyMs", r->scheduled, r->recorded);
    printf(",\"offeredRate\":%.17g,\"maxSendLagMs\":%.6f}}\n", opt.rate,
           (double)r->max_lag_ns / NS_PER_MS);
    fflush(stdout);
}

/* ---- setup ----------------------------------------------------------------------------------- */

static double number_arg(const char *name, const char *text, double min) {
    char *end;
    double value = strtod(text, &end);
    if (end == text || *end != '\0' || !(value >= min) || value > 1e9) {
        die("%s: expected a number >= %g, got '%s'", name, min, text);
    }
    return value;
}

static void parse_args(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *name = argv[i];
        if (i + 1 >= argc) die("%s needs a value", name);
        const char *value = argv[++i];
        if (strcmp(name, "--host") == 0) opt.host = value;
        else if (strcmp(name, "--port") == 0) opt.port = value;
        else if (strcmp(name, "--requests") == 0) opt.requests = value;
        else if (strcmp(name, "--connections") == 0)
            opt.connections = (int)number_arg(name, value, 1);
        else if (strcmp(name, "--rate") == 0) opt.rate = number_arg(name, value, 0);
        else if (strcmp(name, "--warmup") == 0) opt.warmup = number_arg(name, value, 0);
        else if (strcmp(name, "--duration") == 0) opt.duration = number_arg(name, value, 0);
        else if (strcmp(name, "--timeout") == 0) opt.timeout = number_arg(name, value, 0.001);
        else die("unknown option %s", name);
    }
    if (opt.port == NULL || opt.requests == NULL || opt.duration <= 0) {
        die("usage: paced-load --host H --port P --connections N --rate R --warmup S "
            "--duration S --timeout S --requests FILE");
    }
    if (!(opt.rate > 0)) die("paced needs a positive rate");
}

static uint32_t read_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The whole file stays in memory; requests point into it. */
static void load_requests(const char *path) {
    FILE *file = fopen(path, "rb");
    if (file == NULL) die("%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(file), &st) != 0) die("%s: %s", path, strerror(errno));
    size_t size = (size_t)st.st_size;
    uint8_t *data = malloc(size + 1);
    if (data == NULL) die("out of memory");
    if (fread(data, 1, size, file) != size) die("%s: short read", path);
    fclose(file);
    if (size < 4) die("%s: no request count", path);
    request_count = read_u32(data);
    if (request_count == 0) die("spec has no requests");
    if (request_count > size / 5) die("%s: truncated", path);
    requests = calloc(request_count, sizeof *requests);
    if (requests == NULL) die("out of memory");
    size_t at = 4;
    for (uint32_t i = 0; i < request_count; i++) {
        if (size - at < 5) die("%s: truncated at request %u", path, i);
        requests[i].no_body = (data[at] & 1) != 0;
        requests[i].length = read_u32(data + at + 1);
        at += 5;
        if (requests[i].length == 0 || size - at < requests[i].length) {
            die("%s: bad length at request %u", path, i);
        }
        requests[i].bytes = data + at;
        at += requests[i].length;
    }
    if (at != size) die("%s: %zu bytes after the last request", path, size - at);
}

static void setup(void) {
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    int error = getaddrinfo(opt.host, opt.port, &hints, &target);
    if (error != 0) die("%s:%s: %s", opt.host, opt.port, gai_strerror(error));
    conns = calloc((size_t)opt.connections, sizeof *conns);
    idle = calloc((size_t)opt.connections, sizeof *idle);
    if (conns == NULL || idle == NULL) die("out of memory");
    for (int i = 0; i < opt.connections; i++) conns[i].fd = -1;
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (epoll_fd < 0 || timer_fd < 0) die("epoll/timerfd: %s", strerror(errno));
    struct epoll_event event = {.events = EPOLLIN | EPOLLET, .data.u32 = TAG_TIMER};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, timer_fd, &event) != 0) {
        die("epoll_ctl: %s", strerror(errno));
    }
}

/* Bounded whatever the target does, and gone with the harness. */
static void limit_lifetime(void) {
    double budget = opt.warmup + opt.duration + 2 * opt.timeout + BUDGET_MARGIN_S;
    snprintf(budget_message, sizeof budget_message,
             "{\"event\":\"error\",\"message\":\"loader exceeded its %.0f ms budget\"}\n",
             budget * 1000);
    signal(SIGALRM, on_budget);
    alarm((unsigned)budget + 1);
    parent = getppid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) exit(4); /* it died before the line above */
    signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv) {
    parse_args(argc, argv);
    limit_lifetime();
    load_requests(opt.requests);
    setup();

    if (opt.warmup > 0) {
        run_t warmup;
        run_init(&warmup, opt.warmup);
        run_paced(&warmup, opt.warmup);
        run_free(&warmup);
    }
    emit("{\"event\":\"warmed\"}");
    /* Allocated before `go`: the window's first requests should not wait on page faults. */
    static run_t window;
    run_init(&window, opt.duration);
    run = &window; /* nothing is in flight: an idle connection closing records nothing */
    wait_for_go();
    run_paced(&window, opt.duration);
    print_result(&window);
    return 0;
}
