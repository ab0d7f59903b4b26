/*
 * The one client (and the kernels' server) of scripts/bench.sh: the same C code drives every target,
 * so the figures differ only by what answers. Plain blocking sockets and threads, no library: the
 * client's own cost is the same small constant for the stack and for the kernel references.
 *
 *   client send HOST PORT STREAMS SECONDS [CTLPATH]   bulk TCP to a discard port   -> "BYTES SECONDS [ALLOCATED]"
 *   client recv HOST PORT STREAMS SECONDS [CTLPATH]   bulk TCP from a chargen port -> "BYTES SECONDS [ALLOCATED]"
 *     (with CTLPATH: the managed bytes the stack allocated meanwhile, read through one control
 *      connection opened before the transfer, so a new control client's own cost is not counted)
 *   client rr HOST PORT SECONDS             1-byte echo round trips       -> "TRANSACTIONS SECONDS"
 *   client crr HOST PORT COUNT SECONDS      connect + close, sequential   -> "CONNECTIONS SECONDS"
 *   client mem CTLPATH [collect]            the stack's "memory" op       -> "GC_ALLOCATED GC_HEAP"
 *   client idle CTLPATH HOST PORT COUNT     heap per idle connection      -> "HEAP_BEFORE HEAP_AFTER OPENED"
 *   client serve [CC]                       echo 7, discard 9, chargen 19 (the kernels' side); CC: the
 *                                           listeners' TCP_CONGESTION (say cubic, so the kernel sends with the
 *                                           stack's algorithm whatever the namespace's default is)
 *
 * Every mode is bounded in time (SECONDS, or SO_SNDTIMEO/SO_RCVTIMEO of 5 s per blocking call).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BUF (128 * 1024)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "client: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void timeouts(int fd, int seconds)
{
    struct timeval tv = { .tv_sec = seconds };
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

static struct sockaddr_in target;

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    timeouts(fd, 5);
    if (connect(fd, (struct sockaddr *)&target, sizeof target) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* --- bulk: STREAMS threads, each one connection, writing or reading until the deadline --- */
static double deadline;
static int sending;
static long long total_bytes;
static pthread_mutex_t total_lock = PTHREAD_MUTEX_INITIALIZER;

static void *bulk(void *arg)
{
    (void)arg;
    char *buf = malloc(BUF);
    memset(buf, 'x', BUF);
    long long n = 0;
    int fd = dial();
    if (fd < 0) die("connect");
    while (now() < deadline) {
        ssize_t r = sending ? write(fd, buf, BUF) : read(fd, buf, BUF);
        if (r <= 0) break;
        n += r;
    }
    close(fd);
    free(buf);
    pthread_mutex_lock(&total_lock);
    total_bytes += n;
    pthread_mutex_unlock(&total_lock);
    return NULL;
}

static void ctl_open(const char *path);
static long long heap(int collect, long long *allocated);

static int run_bulk(int streams, double seconds, const char *ctlpath)
{
    pthread_t t[64];
    long long a0 = 0, a1 = 0;
    if (streams < 1 || streams > 64) { fprintf(stderr, "client: 1 to 64 streams\n"); return 2; }
    if (ctlpath) {
        ctl_open(ctlpath);
        heap(0, &a0);
    }
    double t0 = now();
    deadline = t0 + seconds;
    for (int i = 0; i < streams; i++) pthread_create(&t[i], NULL, bulk, NULL);
    for (int i = 0; i < streams; i++) pthread_join(t[i], NULL);
    double t1 = now() - t0;
    if (ctlpath) {
        heap(0, &a1);
        printf("%lld %.6f %lld\n", total_bytes, t1, a1 - a0);
    } else
        printf("%lld %.6f\n", total_bytes, t1);
    return 0;
}

static int run_rr(double seconds)
{
    int fd = dial();
    if (fd < 0) die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char c = 'x';
    long long n = 0;
    double t0 = now(), end = t0 + seconds;
    while (now() < end) {
        if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1) die("request/response");
        n++;
    }
    double t = now() - t0;
    close(fd);
    printf("%lld %.6f\n", n, t);
    return 0;
}

static int run_crr(long count, double seconds)
{
    long n = 0;
    double t0 = now(), end = t0 + seconds;
    while (n < count && now() < end) {
        int fd = dial();
        if (fd < 0) die("connect");
        close(fd);
        n++;
    }
    printf("%ld %.6f\n", n, now() - t0);
    return 0;
}

/* --- the stack's control socket: JSON lines (src/NetStack.Control/ControlServer.cs) --- */
static FILE *ctl_in;
static int ctl_fd;

static void ctl_open(const char *path)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    ctl_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (ctl_fd < 0 || connect(ctl_fd, (struct sockaddr *)&a, sizeof a) < 0) die(path);
    timeouts(ctl_fd, 30);
    ctl_in = fdopen(dup(ctl_fd), "r");
    char hello[4096];
    if (!fgets(hello, sizeof hello, ctl_in)) die("control socket hello");
}

static char reply[1 << 16];

static const char *ctl(const char *request)
{
    size_t len = strlen(request);
    if (write(ctl_fd, request, len) != (ssize_t)len || write(ctl_fd, "\n", 1) != 1) die("control socket write");
    if (!fgets(reply, sizeof reply, ctl_in)) die("control socket read");
    if (strstr(reply, "\"error\"")) { fprintf(stderr, "client: %s -> %s", request, reply); exit(1); }
    return reply;
}

static long long field(const char *json, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(json, k);
    if (!p) { fprintf(stderr, "client: no %s in %s", key, json); exit(1); }
    return atoll(p + strlen(k));
}

static long long heap(int collect, long long *allocated)
{
    const char *r = ctl(collect ? "{\"op\":\"memory\",\"collect\":true}" : "{\"op\":\"memory\"}");
    if (allocated) *allocated = field(r, "gc_allocated");
    return field(r, "gc_heap");
}

static int run_mem(const char *path, int collect)
{
    ctl_open(path);
    long long allocated, h = heap(collect, &allocated);
    printf("%lld %lld\n", allocated, h);
    return 0;
}

/*
 * A listening socket made in the stack through the control socket (so no application accepts and
 * no service buffer is counted), COUNT connections into its accept queue (established children,
 * as inet_csk_reqsk_queue_add leaves them), and the live heap after a full collection before and after.
 */
static int run_idle(const char *path, long count)
{
    struct rlimit rl = { count + 256, count + 256 };
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) die("setrlimit RLIMIT_NOFILE");
    ctl_open(path);
    char req[256];
    snprintf(req, sizeof req, "{\"op\":\"sysctl\",\"name\":\"net.core.somaxconn\",\"value\":\"%ld\"}", count + 16);
    ctl(req);
    long long lfd = field(ctl("{\"op\":\"socket\",\"domain\":2,\"type\":1}"), "ret");
    snprintf(req, sizeof req, "{\"op\":\"bind\",\"fd\":%lld,\"addr\":\"0.0.0.0\",\"port\":%d}", lfd, ntohs(target.sin_port));
    ctl(req);
    snprintf(req, sizeof req, "{\"op\":\"listen\",\"fd\":%lld,\"backlog\":%ld}", lfd, count + 16);
    ctl(req);
    long long before = heap(1, NULL);
    int *fds = calloc(count, sizeof *fds);
    long opened = 0;
    double end = now() + 120;
    while (opened < count && now() < end) {
        int fd = dial();
        if (fd < 0) die("connect");
        fds[opened++] = fd;
    }
    usleep(200 * 1000); /* the stack handles the last ACKs */
    long long after = heap(1, NULL);
    printf("%lld %lld %ld\n", before, after, opened);
    for (long i = 0; i < opened; i++) close(fds[i]);
    return 0;
}

/* --- the kernels' server: one thread per connection, as simple as the stack's services --- */
struct conn { int fd; int port; };
static const char *serve_cc; /* TCP_CONGESTION of the listeners (accepted sockets inherit it), or NULL */

static void *serve_conn(void *arg)
{
    struct conn c = *(struct conn *)arg;
    free(arg);
    char *buf = malloc(BUF);
    memset(buf, 'x', BUF);
    ssize_t n;
    if (c.port == 7) {
        int one = 1;
        setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        while ((n = read(c.fd, buf, BUF)) > 0)
            if (write(c.fd, buf, n) != n) break;
    } else if (c.port == 9) {
        while (read(c.fd, buf, BUF) > 0) {}
    } else {
        while (write(c.fd, buf, BUF) > 0) {}
    }
    close(c.fd);
    free(buf);
    return NULL;
}

static void *accept_loop(void *arg)
{
    int port = (int)(intptr_t)arg;
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (serve_cc && setsockopt(l, IPPROTO_TCP, TCP_CONGESTION, serve_cc, strlen(serve_cc)) < 0) die("TCP_CONGESTION");
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 4096) < 0) die("bind/listen");
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (;;) {
        int fd = accept(l, NULL, NULL);
        if (fd < 0) continue;
        struct conn *c = malloc(sizeof *c);
        c->fd = fd;
        c->port = port;
        pthread_t t;
        if (pthread_create(&t, &attr, serve_conn, c) != 0) { close(fd); free(c); }
    }
    return NULL;
}

static int run_serve(void)
{
    pthread_t t;
    int ports[] = { 7, 9, 19 };
    for (int i = 0; i < 3; i++) pthread_create(&t, NULL, accept_loop, (void *)(intptr_t)ports[i]);
    printf("serving echo 7, discard 9, chargen 19\n");
    fflush(stdout);
    pause();
    return 0;
}

static void set_target(const char *host, const char *port)
{
    target.sin_family = AF_INET;
    target.sin_port = htons(atoi(port));
    if (inet_pton(AF_INET, host, &target.sin_addr) != 1) { fprintf(stderr, "client: bad address %s\n", host); exit(2); }
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 6 && (!strcmp(argv[1], "send") || !strcmp(argv[1], "recv"))) {
        set_target(argv[2], argv[3]);
        sending = !strcmp(argv[1], "send");
        return run_bulk(atoi(argv[4]), atof(argv[5]), argc >= 7 ? argv[6] : NULL);
    }
    if (argc >= 5 && !strcmp(argv[1], "rr")) { set_target(argv[2], argv[3]); return run_rr(atof(argv[4])); }
    if (argc >= 6 && !strcmp(argv[1], "crr")) { set_target(argv[2], argv[3]); return run_crr(atol(argv[4]), atof(argv[5])); }
    if (argc >= 3 && !strcmp(argv[1], "mem")) return run_mem(argv[2], argc >= 4 && !strcmp(argv[3], "collect"));
    if (argc >= 6 && !strcmp(argv[1], "idle")) { set_target(argv[3], argv[4]); return run_idle(argv[2], atol(argv[5])); }
    if (argc >= 2 && !strcmp(argv[1], "serve")) { serve_cc = argc >= 3 ? argv[2] : NULL; return run_serve(); }
    fprintf(stderr, "usage: client send|recv HOST PORT STREAMS SECONDS [CTLPATH] | rr HOST PORT SECONDS | crr HOST PORT COUNT SECONDS\n"
                    "       | mem CTLPATH [collect] | idle CTLPATH HOST PORT COUNT | serve [CC]\n");
    return 2;
}
