/* Two ferrowg tunnels in host packet I/O mode over loopback UDP, driven through the C
 * ABI: packets both ways (pull and callback), stats, live config change, stop/free, and
 * abuse cases. Built and run by bindings/run-tests.sh. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferrowg.h"

static int passed, failed;

#define CHECK(cond, ...)                                              \
    do {                                                              \
        if (cond) {                                                   \
            passed++;                                                 \
        } else {                                                      \
            failed++;                                                 \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                             \
            fprintf(stderr, " (last error %d: %s)\n", ferrowg_last_error_code(), \
                    ferrowg_last_error_message());                    \
        }                                                             \
    } while (0)

#define DEADLINE_S 30
#define WINDOW 32

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *A_PRIV = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
static const char *B_PRIV = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

/* An IPv4/UDP packet from 198.19.0.<src> to 198.19.0.<dst>, `len` bytes, payload
 * filled from `seq`. */
static size_t make_packet(uint8_t *p, size_t len, int src, int dst, uint32_t seq) {
    memset(p, 0, len);
    p[0] = 0x45;
    p[2] = (uint8_t)(len >> 8);
    p[3] = (uint8_t)len;
    p[8] = 64;
    p[9] = 17;
    p[12] = 198; p[13] = 19; p[14] = 0; p[15] = (uint8_t)src;
    p[16] = 198; p[17] = 19; p[18] = 0; p[19] = (uint8_t)dst;
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    p[10] = (uint8_t)(~sum >> 8);
    p[11] = (uint8_t)~sum;
    for (size_t i = 28; i < len; i++) p[i] = (uint8_t)(seq * 31 + i);
    memcpy(p + 20, &seq, sizeof seq);
    return len;
}

static char *public_key(const char *priv) {
    char *out = NULL;
    int rc = ferrowg_public_key(priv, &out);
    CHECK(rc == FERROWG_OK && out != NULL, "public key");
    return out;
}

static FerrowgTunnel start_host(const char *priv) {
    char cfg[256];
    snprintf(cfg, sizeof cfg, "[Interface]\nPrivateKey = %s\n", priv);
    FerrowgTunnel t = 0;
    int rc = ferrowg_tunnel_start_host(cfg, "127.0.0.1", &t);
    CHECK(rc == FERROWG_OK && t != 0, "start");
    return t;
}

/* `a` runs its traffic through the CoDel TX path, the locked ring, receive CoDel, a
 * scheduler slice and real-time priority 1 (logged and ignored without the privilege). */
static FerrowgTunnel start_codel(const char *priv) {
    char cfg[256];
    snprintf(cfg, sizeof cfg, "[Interface]\nPrivateKey = %s\n", priv);
    FerrowgTunnelOptions o = {
        .struct_size = sizeof o,
        .nic = FERROWG_NIC_HOST_PACKETS,
        .bind_address = "127.0.0.1",
        .tx_queue = FERROWG_TX_QUEUE_CODEL,
        .codel_target_us = 2000,
        .codel_interval_us = 40000,
        .ring = FERROWG_RING_LOCKED,
        .rx_codel = FERROWG_RX_CODEL_ON,
        .rx_codel_target_us = 500,
        .rx_codel_interval_us = 8000,
        .sched_slice_us = 300,
        .rt_priority = 1,
    };
    FerrowgTunnel t = 0;
    int rc = ferrowg_tunnel_start_opts(cfg, &o, &t);
    CHECK(rc == FERROWG_OK && t != 0, "start with options: %d %s", rc, ferrowg_last_error_message());
    return t;
}

/* FerrowgTunnelOptions as a caller compiled against version 1 (before rt_priority) has
 * it, followed by memory the library must neither read as options nor write. */
typedef struct {
    uint32_t struct_size;
    int32_t nic;
    const char *adapter_name;
    int32_t fd;
    const char *bind_address;
    FerrowgProtectFn protect;
    void *protect_ctx;
    int32_t tx_queue;
    uint32_t codel_target_us, codel_interval_us;
    int32_t ring, rx_codel;
    uint32_t rx_codel_target_us, rx_codel_interval_us, sched_slice_us;
} OptionsV1;

static void check_rt_priority_options(const char *priv) {
    char cfg[256];
    snprintf(cfg, sizeof cfg, "[Interface]\nPrivateKey = %s\n", priv);
    /* Version 1 callers keep working: no priority, and nothing written past their struct. */
    struct {
        OptionsV1 o;
        uint32_t after[4];
    } v1 = {.o = {.struct_size = sizeof(OptionsV1), .nic = FERROWG_NIC_HOST_PACKETS, .bind_address = "127.0.0.1",
                  .tx_queue = FERROWG_TX_QUEUE_QUEUED, .sched_slice_us = 150},
            .after = {0xEE, 0xEE, 0xEE, 0xEE}};
    CHECK(sizeof(OptionsV1) < sizeof(FerrowgTunnelOptions), "version 1 is smaller");
    FerrowgTunnel t = 0;
    int rc = ferrowg_tunnel_start_opts(cfg, (FerrowgTunnelOptions *)&v1.o, &t);
    CHECK(rc == FERROWG_OK && t != 0, "version 1 options: %d %s", rc, ferrowg_last_error_message());
    v1.o.tx_queue = 0;
    v1.o.sched_slice_us = 0;
    CHECK(ferrowg_tunnel_get_options(t, (FerrowgTunnelOptions *)&v1.o) == FERROWG_OK &&
              v1.o.tx_queue == FERROWG_TX_QUEUE_QUEUED && v1.o.sched_slice_us == 150,
          "version 1 options in effect: %d %u", v1.o.tx_queue, v1.o.sched_slice_us);
    for (int i = 0; i < 4; i++) CHECK(v1.after[i] == 0xEE, "nothing written past a version 1 struct (%d)", i);
    CHECK(ferrowg_tunnel_free(t) == FERROWG_OK, "free version 1 tunnel");

    /* Raised only while saturated: reported as asked. */
    FerrowgTunnelOptions o = {.struct_size = sizeof o, .nic = FERROWG_NIC_HOST_PACKETS, .bind_address = "127.0.0.1",
                              .rt_priority = 2, .rt_priority_when_saturated = 1};
    rc = ferrowg_tunnel_start_opts(cfg, &o, &t);
    CHECK(rc == FERROWG_OK && t != 0, "priority when saturated: %d %s", rc, ferrowg_last_error_message());
    FerrowgTunnelOptions eff = {.struct_size = sizeof eff};
    CHECK(ferrowg_tunnel_get_options(t, &eff) == FERROWG_OK && eff.rt_priority == 2 &&
              eff.rt_priority_when_saturated == 1,
          "priority when saturated in effect: %u %u", eff.rt_priority, eff.rt_priority_when_saturated);
    CHECK(ferrowg_tunnel_free(t) == FERROWG_OK, "free");

    FerrowgTunnel none = 0;
    FerrowgTunnelOptions bad[] = {
        {.struct_size = sizeof o, .rt_priority = 100},
        {.struct_size = sizeof o, .rt_priority_when_saturated = 1},
        {.struct_size = sizeof o, .rt_priority = 1, .rt_priority_when_saturated = 2},
        {.struct_size = sizeof(OptionsV1) + 4, .rt_priority = 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(ferrowg_tunnel_start_opts(cfg, &bad[i], &none) == FERROWG_ERR_INVALID_ARGUMENT && none == 0,
              "bad real-time priority options %zu refused", i);
}

static uint16_t port_of(FerrowgTunnel t) {
    uint16_t port = 0;
    CHECK(ferrowg_tunnel_listen_port(t, &port) == FERROWG_OK && port != 0, "listen port");
    return port;
}

/* Pulls one packet from `t` into buf, retrying until the deadline; returns its length. */
static size_t pull(FerrowgTunnel t, uint8_t *buf, size_t cap) {
    double end = now_s() + DEADLINE_S;
    while (now_s() < end) {
        size_t len = 0;
        int rc = ferrowg_tunnel_read_packet(t, buf, cap, &len, 200);
        if (rc != FERROWG_OK) return 0;
        if (len > 0) return len;
    }
    return 0;
}

/* Sends `count` packets a->b in windows, each pulled at b before the next; returns
 * how many arrived intact and in order. */
static int exchange_pull(FerrowgTunnel from, FerrowgTunnel to, int src, int dst, int count) {
    uint8_t pkt[1500], got[1500];
    int ok = 0;
    for (int base = 0; base < count; base += WINDOW) {
        int n = count - base < WINDOW ? count - base : WINDOW;
        for (int i = 0; i < n; i++) {
            size_t len = make_packet(pkt, 60 + (size_t)((base + i) * 37) % 1360, src, dst, (uint32_t)(base + i));
            if (ferrowg_tunnel_write_packet(from, pkt, len, 5000) != FERROWG_OK) return ok;
        }
        for (int i = 0; i < n; i++) {
            size_t len = make_packet(pkt, 60 + (size_t)((base + i) * 37) % 1360, src, dst, (uint32_t)(base + i));
            size_t glen = pull(to, got, sizeof got);
            if (glen == len && memcmp(got, pkt, len) == 0) ok++;
        }
    }
    return ok;
}

/* ---- callbacks ---- */

static atomic_int log_lines, handshakes;

static void on_log(void *ctx, int32_t level, const char *message) {
    (void)ctx;
    if (level >= 1 && level <= 5 && message && message[0]) atomic_fetch_add(&log_lines, 1);
}

static void on_event(void *ctx, const FerrowgEvent *ev) {
    const char *expect_peer = ctx;
    if (ev->kind == FERROWG_EVENT_HANDSHAKE_COMPLETE && ev->peer && strcmp(ev->peer, expect_peer) == 0)
        atomic_fetch_add(&handshakes, 1);
}

struct collector {
    pthread_mutex_t lock;
    uint32_t seqs[4096];
    int count;
    int bad;
    atomic_int calls;
    FerrowgTunnel self;
    atomic_int reentrant;
};

static void on_packets(void *ctx, const uint8_t *const *packets, const size_t *lengths, size_t count) {
    struct collector *c = ctx;
    atomic_fetch_add(&c->calls, 1);
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < count; i++) {
        uint32_t seq;
        uint8_t expect[1500];
        memcpy(&seq, packets[i] + 20, sizeof seq);
        size_t len = make_packet(expect, 60 + (size_t)(seq * 37) % 1360, packets[i][12 + 3], packets[i][16 + 3], seq);
        if (lengths[i] != len || memcmp(expect, packets[i], len) != 0) c->bad++;
        if (c->count < 4096) c->seqs[c->count++] = seq;
    }
    pthread_mutex_unlock(&c->lock);
}

static void on_packets_stopper(void *ctx, const uint8_t *const *packets, const size_t *lengths, size_t count) {
    (void)packets; (void)lengths; (void)count;
    struct collector *c = ctx;
    if (ferrowg_tunnel_stop(c->self) == FERROWG_ERR_REENTRANT) atomic_fetch_add(&c->reentrant, 1);
    if (ferrowg_tunnel_free(c->self) == FERROWG_ERR_REENTRANT) atomic_fetch_add(&c->reentrant, 1);
}

struct pump {
    FerrowgTunnel from;
    atomic_int stop;
    atomic_int sent;
};

static void *pump_main(void *arg) {
    struct pump *p = arg;
    uint8_t pkt[200];
    double end = now_s() + DEADLINE_S;
    uint32_t seq = 0;
    while (!atomic_load(&p->stop) && now_s() < end) {
        size_t len = make_packet(pkt, sizeof pkt, 1, 2, seq);
        if (ferrowg_tunnel_write_packet(p->from, pkt, len, 100) == FERROWG_OK) atomic_fetch_add(&p->sent, 1);
        seq++;
        if (seq % 16 == 0) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

int main(void) {
    const char *version = ferrowg_version();
    CHECK(version && strchr(version, '.'), "version %s", version ? version : "(null)");
    CHECK(ferrowg_set_logger(on_log, NULL, 4) == FERROWG_OK, "set logger");

    char *a_pub = public_key(A_PRIV), *b_pub = public_key(B_PRIV);
    FerrowgTunnel a = start_codel(A_PRIV), b = start_host(B_PRIV);
    FerrowgTunnelOptions eff = {.struct_size = sizeof eff};
    CHECK(ferrowg_tunnel_get_options(a, &eff) == FERROWG_OK && eff.tx_queue == FERROWG_TX_QUEUE_CODEL &&
              eff.codel_target_us == 2000 && eff.codel_interval_us == 40000 && eff.ring == FERROWG_RING_LOCKED,
          "options in effect: queue %d target %u interval %u ring %d", eff.tx_queue, eff.codel_target_us,
          eff.codel_interval_us, eff.ring);
    CHECK(eff.rx_codel == FERROWG_RX_CODEL_ON && eff.rx_codel_target_us == 500 && eff.rx_codel_interval_us == 8000 &&
              eff.sched_slice_us == 300,
          "receive CoDel and slice in effect: %d %u %u slice %u", eff.rx_codel, eff.rx_codel_target_us,
          eff.rx_codel_interval_us, eff.sched_slice_us);
    CHECK(eff.rt_priority == 1 && eff.rt_priority_when_saturated == 0, "priority in effect: %u %u", eff.rt_priority,
          eff.rt_priority_when_saturated);
    CHECK(ferrowg_tunnel_get_options(b, &eff) == FERROWG_OK && eff.tx_queue != FERROWG_TX_QUEUE_DEFAULT &&
              eff.rx_codel == FERROWG_RX_CODEL_OFF && eff.sched_slice_us == 0 && eff.rt_priority == 0 &&
              eff.rt_priority_when_saturated == 0,
          "default options reported");
    check_rt_priority_options(A_PRIV);
    FerrowgTunnelOptions old_size = {.struct_size = 8};
    FerrowgTunnel none = 0;
    CHECK(ferrowg_tunnel_start_opts("", &old_size, &none) == FERROWG_ERR_INVALID_ARGUMENT && none == 0,
          "unknown struct_size refused");
    FerrowgTunnelOptions rx_bad = {.struct_size = sizeof rx_bad, .rx_codel_target_us = 20000};
    CHECK(ferrowg_tunnel_start_opts("", &rx_bad, &none) == FERROWG_ERR_INVALID_ARGUMENT && none == 0,
          "receive CoDel target longer than its interval refused");
    /* The network plan: checked arguments and handles (a real apply needs root and a
       namespace: ffi/tests/network_apply.rs). */
    FerrowgNetwork net = 0;
    CHECK(ferrowg_network_apply("wg0", "[Interface]\nBogus = 1\n", &net) == FERROWG_ERR_CONFIG && net == 0,
          "network plan: bad config refused");
    CHECK(ferrowg_network_apply("wg0", "[Interface]\n", NULL) == FERROWG_ERR_NULL_ARGUMENT, "network plan: NULL out");
    CHECK(ferrowg_network_undo(0) == FERROWG_ERR_INVALID_HANDLE && ferrowg_network_free(0) == FERROWG_ERR_INVALID_HANDLE,
          "network plan: handle 0 refused");
    char cfg[512];
    snprintf(cfg, sizeof cfg, "[Peer]\nPublicKey = %s\nAllowedIPs = 198.19.0.2/32\nEndpoint = 127.0.0.1:%u\n",
             b_pub, port_of(b));
    CHECK(ferrowg_tunnel_set_config(a, cfg, false) == FERROWG_OK, "config a");
    snprintf(cfg, sizeof cfg, "[Peer]\nPublicKey = %s\nAllowedIPs = 198.19.0.1/32\n", a_pub);
    CHECK(ferrowg_tunnel_set_config(b, cfg, false) == FERROWG_OK, "config b");
    CHECK(ferrowg_tunnel_set_event_callback(a, on_event, b_pub) == FERROWG_OK, "event callback");

    /* Handshake, then traffic a->b pulled by b. */
    int n = exchange_pull(a, b, 1, 2, 1);
    CHECK(n == 1, "first packet after the handshake: %d", n);
    n = exchange_pull(a, b, 1, 2, 640);
    CHECK(n == 640, "a->b pulled intact and in order: %d/640", n);
    CHECK(atomic_load(&handshakes) >= 1, "handshake event");

    /* b->a delivered to a's packet callback. */
    static struct collector col = {.lock = PTHREAD_MUTEX_INITIALIZER};
    CHECK(ferrowg_tunnel_set_packet_callback(a, on_packets, &col) == FERROWG_OK, "packet callback");
    uint8_t pkt[1500], buf[1500];
    for (uint32_t base = 0; base < 320; base += WINDOW) {
        for (uint32_t i = base; i < base + WINDOW; i++) {
            size_t len = make_packet(pkt, 60 + (size_t)(i * 37) % 1360, 2, 1, i);
            CHECK(ferrowg_tunnel_write_packet(b, pkt, len, 5000) == FERROWG_OK, "write b");
        }
        double end = now_s() + DEADLINE_S;
        while (now_s() < end) {
            pthread_mutex_lock(&col.lock);
            int c = col.count;
            pthread_mutex_unlock(&col.lock);
            if (c >= (int)(base + WINDOW)) break;
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
    }
    CHECK(ferrowg_tunnel_set_packet_callback(a, NULL, NULL) == FERROWG_OK, "unregister");
    int in_order = col.count == 320 && col.bad == 0;
    for (int i = 0; in_order && i < col.count; i++) in_order = col.seqs[i] == (uint32_t)i;
    CHECK(in_order, "b->a via callback: %d packets, %d bad", col.count, col.bad);

    /* Stats. */
    FerrowgPeerStats st[4];
    size_t count = 99;
    CHECK(ferrowg_tunnel_peer_stats(a, NULL, 0, &count) == FERROWG_ERR_BUFFER_TOO_SMALL && count == 1,
          "stats count %zu", count);
    CHECK(ferrowg_tunnel_peer_stats(a, st, 4, &count) == FERROWG_OK && count == 1, "stats");
    CHECK(st[0].tx_packets >= 641 && st[0].rx_packets >= 320 && st[0].handshakes >= 1, "counters tx %llu rx %llu",
          (unsigned long long)st[0].tx_packets, (unsigned long long)st[0].rx_packets);
    CHECK(st[0].tx_bytes > st[0].tx_packets * 60 && st[0].last_handshake_unix_ms > 1600000000000LL, "bytes/time");

    char *text = NULL;
    CHECK(ferrowg_tunnel_get_config(a, &text) == FERROWG_OK && text && strstr(text, "allowed_ip=198.19.0.2/32"),
          "get config");
    ferrowg_string_free(text);
    ferrowg_string_free(text); /* double free: ignored */
    ferrowg_string_free((char *)"not ours");
    ferrowg_string_free(NULL);

    /* Live config change: a routes 198.19.0.3 to b only after the update. */
    make_packet(pkt, 100, 1, 3, 7);
    CHECK(ferrowg_tunnel_write_packet(a, pkt, 100, 5000) == FERROWG_OK, "write to .3");
    CHECK(exchange_pull(a, b, 1, 2, 1) == 1, "marker after the unroutable packet arrives first");
    snprintf(cfg, sizeof cfg, "[Peer]\nPublicKey = %s\nAllowedIPs = 198.19.0.2/32, 198.19.0.3/32\n", b_pub);
    CHECK(ferrowg_tunnel_set_config(a, cfg, false) == FERROWG_OK, "add .3");
    CHECK(exchange_pull(a, b, 1, 3, 5) == 5, "routed to .3 after the change");

    /* Suspend (sockets closed, the port kept, no timers) and resume: traffic both ways. */
    uint16_t before = 0, after = 0;
    CHECK(ferrowg_tunnel_listen_port(a, &before) == FERROWG_OK && before != 0, "port before suspend");
    CHECK(ferrowg_tunnel_suspend(a) == FERROWG_OK, "suspend");
    CHECK(ferrowg_tunnel_suspend(a) == FERROWG_OK, "suspend twice");
    CHECK(ferrowg_tunnel_listen_port(a, &after) == FERROWG_OK && after == before, "suspended port %u", after);
    CHECK(ferrowg_tunnel_resume(a) == FERROWG_OK, "resume");
    CHECK(ferrowg_tunnel_listen_port(a, &after) == FERROWG_OK && after == before, "port after resume %u", after);
    CHECK(exchange_pull(a, b, 1, 2, 5) == 5, "a->b after suspend/resume");
    CHECK(exchange_pull(b, a, 2, 1, 5) == 5, "b->a after suspend/resume");

    /* Abuse: handles, pointers, strings, buffers. */
    uint16_t port;
    CHECK(ferrowg_tunnel_listen_port(0, &port) == FERROWG_ERR_INVALID_HANDLE, "handle 0");
    CHECK(ferrowg_tunnel_listen_port(0xdeadbeef, &port) == FERROWG_ERR_INVALID_HANDLE, "made-up handle");
    CHECK(strlen(ferrowg_last_error_message()) > 0, "message set");
    CHECK(ferrowg_tunnel_listen_port(a, NULL) == FERROWG_ERR_NULL_ARGUMENT, "NULL out");
    CHECK(ferrowg_tunnel_set_config(a, NULL, false) == FERROWG_ERR_NULL_ARGUMENT, "NULL config");
    CHECK(ferrowg_tunnel_set_config(a, "[Interface]\n\xff\xfe = 1\n", false) == FERROWG_ERR_INVALID_UTF8, "bad UTF-8");
    CHECK(ferrowg_tunnel_set_config(a, "[Interface]\nListenPort = 99999\n", true) == FERROWG_ERR_CONFIG &&
              strstr(ferrowg_last_error_message(), "line 2"), "config error names the line");
    CHECK(ferrowg_last_error_code() == FERROWG_ERR_CONFIG, "last code");
    FerrowgTunnel bad = 0;
    CHECK(ferrowg_tunnel_start_host("[Interface]\nPrivateKey = short\n", NULL, &bad) == FERROWG_ERR_CONFIG && bad == 0,
          "bad start");
    CHECK(ferrowg_tunnel_start_host("private_key=zz\n", "127.0.0.1", NULL) == FERROWG_ERR_NULL_ARGUMENT, "NULL handle out");
    CHECK(ferrowg_tunnel_start_host("", "not-an-ip", &bad) == FERROWG_ERR_INVALID_ARGUMENT, "bad bind address");
    CHECK(ferrowg_tunnel_write_packet(a, NULL, 10, 0) == FERROWG_ERR_NULL_ARGUMENT, "NULL packet");
    CHECK(ferrowg_tunnel_write_packet(a, pkt, 0, 0) == FERROWG_ERR_INVALID_ARGUMENT, "empty packet");
    CHECK(ferrowg_tunnel_write_packet(a, pkt, 1421, 0) == FERROWG_ERR_INVALID_ARGUMENT, "packet over the MTU");
    CHECK(ferrowg_public_key("nope", &text) == FERROWG_ERR_INVALID_ARGUMENT, "bad key");

    /* A packet larger than the buffer stays queued. */
    size_t len = make_packet(pkt, 900, 1, 2, 4242);
    CHECK(ferrowg_tunnel_write_packet(a, pkt, len, 5000) == FERROWG_OK, "write big");
    size_t need = 0;
    double end = now_s() + DEADLINE_S;
    int rc = FERROWG_OK;
    while (now_s() < end && need == 0) rc = ferrowg_tunnel_read_packet(b, buf, 100, &need, 200);
    CHECK(rc == FERROWG_ERR_BUFFER_TOO_SMALL && need == 900, "too small: rc %d need %zu", rc, need);
    size_t got = pull(b, buf, sizeof buf);
    CHECK(got == 900 && memcmp(buf, pkt, 900) == 0, "then read whole");

    /* Stop/free from inside a callback is refused; the tunnel keeps running. */
    static struct collector stopper = {.lock = PTHREAD_MUTEX_INITIALIZER};
    stopper.self = b;
    CHECK(ferrowg_tunnel_set_packet_callback(b, on_packets_stopper, &stopper) == FERROWG_OK, "stopper");
    make_packet(pkt, 80, 1, 2, 1);
    ferrowg_tunnel_write_packet(a, pkt, 80, 5000);
    end = now_s() + DEADLINE_S;
    while (now_s() < end && atomic_load(&stopper.reentrant) < 2) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    CHECK(atomic_load(&stopper.reentrant) >= 2, "reentrant stop/free refused");
    CHECK(ferrowg_tunnel_set_packet_callback(b, NULL, NULL) == FERROWG_OK, "unregister stopper");
    CHECK(ferrowg_tunnel_listen_port(b, &port) == FERROWG_OK, "b still alive");

    /* Unregister under load: after it returns, the callback is never called again. */
    struct pump pump = {.from = a};
    pthread_t th;
    pthread_create(&th, NULL, pump_main, &pump);
    for (int round = 0; round < 20; round++) {
        static struct collector load = {.lock = PTHREAD_MUTEX_INITIALIZER};
        atomic_store(&load.calls, 0);
        CHECK(ferrowg_tunnel_set_packet_callback(b, on_packets, &load) == FERROWG_OK, "register");
        end = now_s() + DEADLINE_S;
        while (now_s() < end && atomic_load(&load.calls) == 0) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        CHECK(ferrowg_tunnel_set_packet_callback(b, NULL, NULL) == FERROWG_OK, "unregister");
        int frozen = atomic_load(&load.calls);
        CHECK(frozen > 0, "called under load");
        got = pull(b, buf, sizeof buf); /* traffic goes on into the pull queue */
        CHECK(got > 0 && atomic_load(&load.calls) == frozen, "no call after unregister");
        while (ferrowg_tunnel_read_packet(b, buf, sizeof buf, &got, 0) == FERROWG_OK && got > 0) {
        }
    }
    atomic_store(&pump.stop, 1);
    pthread_join(th, NULL);

    /* Socket handles (none: bound to one address), network change, fd modes' checks. */
    size_t nh = 99;
    CHECK(ferrowg_tunnel_socket_handles(b, NULL, 0, &nh) == FERROWG_OK && nh == 0, "no platform sockets: %zu", nh);
    CHECK(ferrowg_tunnel_network_changed(b) == FERROWG_OK, "network changed");
    CHECK(ferrowg_tunnel_set_bound_interface(b, 1) == FERROWG_ERR_UNSUPPORTED,
          "a bind address cannot be bound to an interface");
    CHECK(ferrowg_tunnel_set_bound_interface(b, 0) == FERROWG_OK, "unbinding is always fine");
    CHECK(ferrowg_tunnel_listen_port(b, &port) == FERROWG_OK && port != 0, "port after rebind");
    CHECK(ferrowg_tunnel_start_fd_protected("[Interface]\n", 0, NULL, NULL, &bad) == FERROWG_ERR_NULL_ARGUMENT,
          "NULL protector");
#ifdef _WIN32
    CHECK(ferrowg_tunnel_start_fd("[Interface]\n", -1, &bad) == FERROWG_ERR_UNSUPPORTED, "no fd adoption on Windows");
#else
    CHECK(ferrowg_tunnel_start_fd("[Interface]\n", -1, &bad) == FERROWG_ERR_INVALID_ARGUMENT, "negative fd");
#endif
#ifdef __linux__
    int32_t utun = 0;
    CHECK(ferrowg_find_utun_fd(&utun) == FERROWG_ERR_UNSUPPORTED, "no utun on Linux");
#endif

    /* Stop, use after stop, double stop, free, use after free. */
    CHECK(ferrowg_tunnel_stop(a) == FERROWG_OK, "stop");
    CHECK(ferrowg_tunnel_stop(a) == FERROWG_OK, "double stop");
    CHECK(ferrowg_tunnel_listen_port(a, &port) == FERROWG_ERR_STOPPED, "use after stop");
    CHECK(ferrowg_tunnel_write_packet(a, pkt, 80, 0) == FERROWG_ERR_STOPPED, "write after stop");
    CHECK(ferrowg_tunnel_free(a) == FERROWG_OK, "free");
    CHECK(ferrowg_tunnel_free(a) == FERROWG_ERR_INVALID_HANDLE, "double free");
    CHECK(ferrowg_tunnel_stop(a) == FERROWG_ERR_INVALID_HANDLE, "stop after free");
    CHECK(ferrowg_tunnel_free(b) == FERROWG_OK, "free running tunnel");
    CHECK(atomic_load(&log_lines) > 0, "log lines");
    CHECK(ferrowg_set_logger(NULL, NULL, 0) == FERROWG_OK, "unset logger");
    ferrowg_string_free(a_pub);
    ferrowg_string_free(b_pub);

    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
