/* otb_probe: sends hostile or valid Shadowsocks-AEAD first flights to a
 * server and reports what came back, so the shell tests need no crypto code
 * of their own. The flights are built with the project's own codec
 * (otb_stream, otb_crypto, otb_addr), then bent where a mode asks for it.
 *
 * One line per connection on stdout:
 *   conn=<n> reply=<bytes received> plain=<bytes opened> echo=<yes|no|bad|->
 *   closed=<eof|rst|no> elapsed=<seconds from the last byte sent to the close>
 * for --storm and --trickle one summary line, for --udp one "udp reply=<bytes>
 * echo=<yes|no|bad>" line. Exit 0 when the probe could do its job
 * (what the server answered is for the caller to judge), 1 on a local error
 * or a refused TCP connection, 2 on a usage error. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <sodium.h>

#include "otb_addr.h"
#include "otb_config.h"
#include "otb_crypto.h"
#include "otb_sock.h"
#include "otb_stream.h"
#include "otb_udp.h"

#define OTB_PROBE_FLIGHT_MAX (OTB_MAX_SALT_LEN + 2 * (OTB_CHUNK_MAX + OTB_CHUNK_OVERHEAD))
#define OTB_PROBE_RANDOM_MAX (1u << 20)
#define OTB_PROBE_READ_SIZE 65536
/* Received bytes not opened yet: one read plus the rest of an incomplete chunk. */
#define OTB_PROBE_PEND_MAX (OTB_PROBE_READ_SIZE + OTB_CHUNK_MAX + OTB_CHUNK_OVERHEAD)
#define OTB_PROBE_STORM_BATCH_MAX 1024

enum otb_probe_mode {
    OTB_PROBE_NONE,
    OTB_PROBE_RANDOM,    /* N random bytes */
    OTB_PROBE_TRUNCATED, /* half a salt, then the write side is shut */
    OTB_PROBE_BAD_TAG,   /* valid salt, length block with one tag bit flipped */
    OTB_PROBE_LENGTH,    /* valid salt, well-sealed length block carrying --length */
    OTB_PROBE_ATYP,      /* valid salt and chunk, address header with ATYP --atyp */
    OTB_PROBE_VALID,     /* a correct stream to --valid-to carrying --payload */
    OTB_PROBE_REPLAY,    /* the --valid-to flight, byte for byte, on two connections */
    OTB_PROBE_STORM,     /* N connections opened and dropped */
    OTB_PROBE_TRICKLE,   /* N connections held open without the key, a byte at a time */
    OTB_PROBE_JUNK,      /* N connections, each a salt's worth of junk then closed */
    OTB_PROBE_FLIGHT,    /* the bytes of a file (a saved flight or reply), as they are */
    OTB_PROBE_UDP,       /* one datagram to --valid-to carrying --payload (echo checked) */
};

struct otb_probe {
    enum otb_probe_mode mode;
    struct sockaddr_storage server;
    socklen_t server_len;
    struct otb_master master;
    bool have_target;
    struct otb_addr target;
    const char *payload;
    size_t count;      /* --random N, --storm N */
    unsigned length;   /* --length V */
    unsigned atyp;     /* --atyp V */
    unsigned parallel; /* --parallel P (storm) */
    double wait;       /* --wait S: how long to watch a connection (trickle: to run) */
    double every;      /* --every S (trickle): seconds between bytes */
    bool have_from;
    struct sockaddr_storage from; /* --from IP: source address of the connections */
    const char *save;       /* --save FILE: the flight sent (valid modes) */
    const char *save_reply; /* --save-reply FILE: the raw bytes the server sent back */
    const char *flight;     /* --flight FILE */
};

/* What one connection got back. */
struct otb_probe_result {
    size_t reply;
    size_t plain;
    const char *echo;
    const char *closed;
    double elapsed;
};

/* What the reply decoder keeps between reads. */
struct otb_probe_reader {
    struct otb_stream_dec dec;
    uint8_t pend[OTB_PROBE_PEND_MAX];
    size_t pend_len;
    uint8_t out[OTB_PROBE_PEND_MAX]; /* never smaller than the input: no partial opens */
    bool bad, mismatch;
};

static double otb_probe_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void otb_probe_usage(FILE *out)
{
    fputs("usage: otb_probe -s IP:PORT [-m METHOD] (-k PASSWORD | --key BASE64) MODE [--wait S]\n"
          "modes:\n"
          "  --random N            N random bytes\n"
          "  --truncated           half a salt, then shut the write side\n"
          "  --bad-tag             salt + length block whose tag is corrupted\n"
          "  --big-length          salt + sealed length block of 0x4000 (> 0x3FFF)\n"
          "  --length V            salt + sealed length block of V (0..65535)\n"
          "  --atyp9 | --atyp V    salt + sealed address header with ATYP 9 (or V)\n"
          "  --valid-to HOST:PORT  a correct stream carrying --payload TEXT (echo checked)\n"
          "  --replay              with --valid-to: the same first flight on two connections\n"
          "  --storm N             N connections opened and dropped, --parallel P at a time\n"
          "  --junk N              N connections, each sends a salt's length of random bytes\n"
          "                        and 2 more, then is dropped, --parallel P at a time\n"
          "  --trickle N           N connections held open: a few zero bytes, then one byte\n"
          "                        every --every S seconds; any the server closes is opened\n"
          "                        again 0.5 s later; runs --wait S in all\n"
          "  --flight FILE         the bytes of FILE as a first flight (a saved one, a reply)\n"
          "  --udp                 with --valid-to: one UDP datagram instead of a stream;\n"
          "                        prints \"udp reply=<bytes> echo=<yes|no|bad>\"\n"
          "options: --from IP      source address of the probe's sockets\n"
          "         --save FILE    --valid-to: keep the flight sent in FILE\n"
          "         --save-reply FILE  keep the raw bytes the server sent back in FILE\n",
          out);
}

/* --------------------------------------------------------------- options */

static int otb_probe_set_mode(struct otb_probe *p, enum otb_probe_mode m)
{
    /* --replay and --udp need --valid-to as well: they win over the valid mode. */
    bool refines = m == OTB_PROBE_REPLAY || m == OTB_PROBE_UDP;

    if (m == OTB_PROBE_VALID && (p->mode == OTB_PROBE_REPLAY || p->mode == OTB_PROBE_UDP))
        return 0;
    if (p->mode != OTB_PROBE_NONE && !(refines && p->mode == OTB_PROBE_VALID)) {
        fprintf(stderr, "otb_probe: only one mode at a time\n");
        return -1;
    }
    p->mode = m;
    return 0;
}

static int otb_probe_parse_number(const char *text, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(text, &end, 0);
    if (errno || end == text || *end || text[0] == '-' || v > max) {
        fprintf(stderr, "otb_probe: bad number \"%s\"\n", text);
        return -1;
    }
    *out = v;
    return 0;
}

static int otb_probe_parse_server(struct otb_probe *p, const char *text)
{
    struct otb_hostport hp;

    if (otb_config_parse_hostport(text, &hp) < 0 || hp.port == 0 ||
        otb_sock_parse_ip(hp.host, hp.port, &p->server, &p->server_len) < 0) {
        fprintf(stderr, "otb_probe: -s wants IP:PORT or [IPV6]:PORT, got \"%s\"\n", text);
        return -1;
    }
    return 0;
}

/* The destination as the server will read it: IPv4, IPv6 or a name. */
static int otb_probe_parse_target(struct otb_probe *p, const char *text)
{
    struct otb_hostport hp;
    struct sockaddr_storage ss;
    socklen_t len;

    if (otb_config_parse_hostport(text, &hp) < 0 || hp.port == 0) {
        fprintf(stderr, "otb_probe: --valid-to wants HOST:PORT, got \"%s\"\n", text);
        return -1;
    }
    if (otb_sock_parse_ip(hp.host, hp.port, &ss, &len) == 0)
        otb_addr_from_sockaddr(&p->target, (const struct sockaddr *)&ss);
    else if (otb_addr_set_domain(&p->target, hp.host, hp.port) < 0)
        return -1;
    p->have_target = true;
    return 0;
}

struct otb_probe_secret {
    const char *method, *password, *key;
};

static int otb_probe_make_master(struct otb_probe *p, const struct otb_probe_secret *s)
{
    int m = otb_method_from_name(s->method);

    if (m < 0) {
        fprintf(stderr, "otb_probe: unknown method %s (%s)\n", s->method, otb_method_names());
        return -1;
    }
    if (s->key)
        return otb_master_from_base64(&p->master, (enum otb_method)m, s->key) < 0 ? -1 : 0;
    if (!s->password) {
        fprintf(stderr, "otb_probe: -k PASSWORD or --key BASE64 is required\n");
        return -1;
    }
    otb_master_from_password(&p->master, (enum otb_method)m, s->password);
    return 0;
}

enum {
    OPT_KEY = 256, OPT_RANDOM, OPT_TRUNCATED, OPT_BAD_TAG, OPT_BIG_LENGTH, OPT_LENGTH,
    OPT_ATYP9, OPT_ATYP, OPT_VALID_TO, OPT_PAYLOAD, OPT_REPLAY, OPT_STORM, OPT_PARALLEL,
    OPT_WAIT, OPT_HELP, OPT_TRICKLE, OPT_JUNK, OPT_EVERY, OPT_FROM, OPT_SAVE, OPT_SAVE_REPLY,
    OPT_FLIGHT, OPT_UDP,
};

static const struct option otb_probe_options[] = {
    { "key", required_argument, NULL, OPT_KEY },
    { "random", required_argument, NULL, OPT_RANDOM },
    { "truncated", no_argument, NULL, OPT_TRUNCATED },
    { "bad-tag", no_argument, NULL, OPT_BAD_TAG },
    { "big-length", no_argument, NULL, OPT_BIG_LENGTH },
    { "length", required_argument, NULL, OPT_LENGTH },
    { "atyp9", no_argument, NULL, OPT_ATYP9 },
    { "atyp", required_argument, NULL, OPT_ATYP },
    { "valid-to", required_argument, NULL, OPT_VALID_TO },
    { "payload", required_argument, NULL, OPT_PAYLOAD },
    { "replay", no_argument, NULL, OPT_REPLAY },
    { "storm", required_argument, NULL, OPT_STORM },
    { "parallel", required_argument, NULL, OPT_PARALLEL },
    { "wait", required_argument, NULL, OPT_WAIT },
    { "trickle", required_argument, NULL, OPT_TRICKLE },
    { "junk", required_argument, NULL, OPT_JUNK },
    { "every", required_argument, NULL, OPT_EVERY },
    { "from", required_argument, NULL, OPT_FROM },
    { "save", required_argument, NULL, OPT_SAVE },
    { "save-reply", required_argument, NULL, OPT_SAVE_REPLY },
    { "flight", required_argument, NULL, OPT_FLIGHT },
    { "help", no_argument, NULL, OPT_HELP },
    { "udp", no_argument, NULL, OPT_UDP },
    { NULL, 0, NULL, 0 },
};

/* An option whose number (at most MAX) goes to FIELD and selects MODE. */
static int otb_probe_number_mode(struct otb_probe *p, const char *arg, unsigned long max,
                                 unsigned *field, enum otb_probe_mode mode)
{
    unsigned long v;

    if (otb_probe_parse_number(arg, max, &v) < 0)
        return -1;
    *field = (unsigned)v;
    return otb_probe_set_mode(p, mode);
}

/* One option that selects or tunes a mode. 0, -1 on error. */
static int otb_probe_mode_option(struct otb_probe *p, int opt, const char *arg)
{
    unsigned long v = 0;

    switch (opt) {
    case OPT_RANDOM:
        if (otb_probe_parse_number(arg, OTB_PROBE_RANDOM_MAX, &v) < 0 || v == 0)
            return -1;
        p->count = v;
        return otb_probe_set_mode(p, OTB_PROBE_RANDOM);
    case OPT_TRUNCATED:
        return otb_probe_set_mode(p, OTB_PROBE_TRUNCATED);
    case OPT_BAD_TAG:
        return otb_probe_set_mode(p, OTB_PROBE_BAD_TAG);
    case OPT_BIG_LENGTH:
        p->length = OTB_CHUNK_MAX + 1;
        return otb_probe_set_mode(p, OTB_PROBE_LENGTH);
    case OPT_LENGTH:
        return otb_probe_number_mode(p, arg, 0xFFFF, &p->length, OTB_PROBE_LENGTH);
    case OPT_ATYP9:
        p->atyp = 9;
        return otb_probe_set_mode(p, OTB_PROBE_ATYP);
    case OPT_ATYP:
        return otb_probe_number_mode(p, arg, 0xFF, &p->atyp, OTB_PROBE_ATYP);
    case OPT_VALID_TO:
        if (otb_probe_parse_target(p, arg) < 0)
            return -1;
        return otb_probe_set_mode(p, OTB_PROBE_VALID);
    case OPT_REPLAY:
        return otb_probe_set_mode(p, OTB_PROBE_REPLAY);
    case OPT_UDP:
        return otb_probe_set_mode(p, OTB_PROBE_UDP);
    case OPT_STORM:
    case OPT_JUNK:
    case OPT_TRICKLE:
        if (otb_probe_parse_number(arg, 10000000, &v) < 0 || v == 0)
            return -1;
        p->count = v;
        return otb_probe_set_mode(p, opt == OPT_STORM  ? OTB_PROBE_STORM
                                     : opt == OPT_JUNK ? OTB_PROBE_JUNK
                                                       : OTB_PROBE_TRICKLE);
    case OPT_PARALLEL:
        if (otb_probe_parse_number(arg, OTB_PROBE_STORM_BATCH_MAX, &v) < 0 || v == 0)
            return -1;
        p->parallel = (unsigned)v;
        return 0;
    }
    return -1;
}

/* Fills p from argv. 0, or 2 (usage error), or 3 (--help printed). */
static int otb_probe_parse_args(struct otb_probe *p, int argc, char **argv)
{
    struct otb_probe_secret secret = { .method = OTB_DEFAULT_METHOD };
    bool have_server = false;
    int opt;

    p->payload = "otb-probe";
    p->parallel = 256;
    p->wait = 8.;
    p->every = 3.;
    while ((opt = getopt_long(argc, argv, "s:m:k:h", otb_probe_options, NULL)) != -1) {
        switch (opt) {
        case 's':
            if (otb_probe_parse_server(p, optarg) < 0)
                return 2;
            have_server = true;
            break;
        case 'm':
            secret.method = optarg;
            break;
        case 'k':
            secret.password = optarg;
            break;
        case OPT_KEY:
            secret.key = optarg;
            break;
        case OPT_PAYLOAD:
            p->payload = optarg;
            break;
        case OPT_WAIT:
            p->wait = atof(optarg);
            break;
        case OPT_EVERY:
            p->every = atof(optarg);
            break;
        case OPT_SAVE:
            p->save = optarg;
            break;
        case OPT_SAVE_REPLY:
            p->save_reply = optarg;
            break;
        case OPT_FLIGHT:
            p->flight = optarg;
            if (otb_probe_set_mode(p, OTB_PROBE_FLIGHT) < 0)
                return 2;
            break;
        case OPT_FROM: {
            socklen_t len;
            if (otb_sock_parse_ip(optarg, 0, &p->from, &len) < 0) {
                fprintf(stderr, "otb_probe: --from wants an IP address, got \"%s\"\n", optarg);
                return 2;
            }
            p->have_from = true;
            break;
        }
        case 'h':
        case OPT_HELP:
            otb_probe_usage(stdout);
            return 3;
        default:
            if (opt == '?' || otb_probe_mode_option(p, opt, optarg) < 0)
                return 2;
        }
    }
    if (optind != argc || !have_server || p->mode == OTB_PROBE_NONE ||
        ((p->mode == OTB_PROBE_REPLAY || p->mode == OTB_PROBE_UDP) && !p->have_target) ||
        p->wait <= 0 || p->every <= 0 ||
        strlen(p->payload) == 0 || strlen(p->payload) > OTB_CHUNK_MAX) {
        otb_probe_usage(stderr);
        return 2;
    }
    return otb_probe_make_master(p, &secret) < 0 ? 2 : 0;
}

/* --------------------------------------------------------------- flights */

static size_t otb_probe_begin(struct otb_probe *p, struct otb_stream_enc *enc, uint8_t *out)
{
    uint8_t salt[OTB_MAX_SALT_LEN];

    randombytes_buf(salt, p->master.key_len);
    return otb_stream_enc_start(enc, &p->master, salt, out);
}

/* Sealed address header of the probe's target (a harmless default when the
 * mode does not name one). */
static size_t otb_probe_seal_header(struct otb_probe *p, struct otb_stream_enc *enc, uint8_t *out)
{
    static const struct otb_addr fallback = { .atyp = OTB_ATYP_IPV4, .port = 9,
                                              .u.v4 = { 127, 0, 0, 1 } };
    uint8_t hdr[OTB_ADDR_MAX_LEN];
    size_t len = otb_addr_encode(p->have_target ? &p->target : &fallback, hdr);

    return otb_stream_seal(enc, hdr, len, out);
}

/* Builds the bytes the mode sends first. Returns their length. */
static size_t otb_probe_build_flight(struct otb_probe *p, uint8_t *out)
{
    struct otb_stream_enc enc = { 0 };
    size_t n = 0;

    switch (p->mode) {
    case OTB_PROBE_RANDOM:
        randombytes_buf(out, p->count);
        return p->count;
    case OTB_PROBE_TRUNCATED:
        randombytes_buf(out, p->master.key_len / 2);
        return p->master.key_len / 2;
    case OTB_PROBE_BAD_TAG:
        n = otb_probe_begin(p, &enc, out);
        n += otb_probe_seal_header(p, &enc, out + n);
        /* Last byte of the length block's tag: the length itself is intact. */
        out[p->master.key_len + 2 + OTB_TAG_LEN - 1] ^= 0x01;
        break;
    case OTB_PROBE_LENGTH: {
        uint8_t be[2];
        n = otb_probe_begin(p, &enc, out);
        /* Sealed by hand: otb_stream_seal never writes an out-of-range length. */
        otb_put_be16(be, (uint16_t)p->length);
        otb_aead_seal(&enc.aead, out + n, be, sizeof(be));
        n += sizeof(be) + OTB_TAG_LEN;
        break;
    }
    case OTB_PROBE_ATYP: {
        const uint8_t hdr[] = { (uint8_t)p->atyp, 127, 0, 0, 1, 0, 9 };
        n = otb_probe_begin(p, &enc, out);
        n += otb_stream_seal(&enc, hdr, sizeof(hdr), out + n);
        break;
    }
    case OTB_PROBE_VALID:
    case OTB_PROBE_REPLAY:
        /* Header and payload in separate chunks: shadowsocks-libev clients
         * put both in one, so the server sees both layouts in the tests. */
        n = otb_probe_begin(p, &enc, out);
        n += otb_probe_seal_header(p, &enc, out + n);
        n += otb_stream_seal(&enc, (const uint8_t *)p->payload, strlen(p->payload), out + n);
        break;
    case OTB_PROBE_NONE:
    case OTB_PROBE_STORM:
    case OTB_PROBE_JUNK:
    case OTB_PROBE_TRICKLE:
    case OTB_PROBE_FLIGHT:
    case OTB_PROBE_UDP:
        break;
    }
    otb_stream_enc_end(&enc);
    return n;
}

/* ------------------------------------------------------------------ files */

static int otb_probe_write_file(const char *path, const uint8_t *buf, size_t len)
{
    FILE *f = fopen(path, "wb");

    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        return -1;
    }
    return 0;
}

/* The flight of --flight FILE: at most cap bytes. Its length, or 0 on error. */
static size_t otb_probe_read_file(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n;

    if (!f) {
        perror(path);
        return 0;
    }
    n = fread(buf, 1, cap, f);
    fclose(f);
    if (n == 0)
        fprintf(stderr, "otb_probe: %s is empty\n", path);
    return n;
}

/* ------------------------------------------------------------ connections */

/* A socket of type toward the server, from --from if given. */
static int otb_probe_socket(const struct otb_probe *p, int type)
{
    int fd = socket(p->server.ss_family, type | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        perror("otb_probe: socket");
        return -1;
    }
    if (p->have_from && bind(fd, (const struct sockaddr *)&p->from,
                             otb_sockaddr_len((const struct sockaddr *)&p->from)) < 0) {
        perror("otb_probe: bind");
        close(fd);
        return -1;
    }
    return fd;
}

static int otb_probe_connect(const struct otb_probe *p)
{
    int fd = otb_probe_socket(p, SOCK_STREAM);

    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)&p->server, p->server_len) < 0) {
        perror("otb_probe: connect");
        close(fd);
        return -1;
    }
    return fd;
}

static int otb_probe_send_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            perror("otb_probe: send");
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Opens what the server sent back and compares it with what was sent; true
 * once the whole payload came back intact. */
static bool otb_probe_read_reply(struct otb_probe_reader *rd, struct otb_probe_result *res,
                                 const uint8_t *in, size_t len, const char *expect)
{
    size_t used, made, want = strlen(expect);

    if (rd->bad)
        return false;
    memcpy(rd->pend + rd->pend_len, in, len);
    rd->pend_len += len;
    if (otb_stream_open(&rd->dec, rd->pend, rd->pend_len, &used, rd->out, sizeof(rd->out),
                        &made) == OTB_BAD) {
        rd->bad = true;
        res->echo = "bad";
        return false;
    }
    memmove(rd->pend, rd->pend + used, rd->pend_len - used);
    rd->pend_len -= used;
    if (res->plain + made > want || memcmp(rd->out, expect + res->plain, made) != 0)
        rd->mismatch = true;
    res->plain += made;
    if (rd->mismatch || res->plain < want)
        return false;
    res->echo = "yes";
    return true;
}

/* --save-reply: the raw bytes of the first connection's reply. */
static uint8_t otb_probe_reply_kept[OTB_PROBE_READ_SIZE];
static size_t otb_probe_reply_len;

/* Watches fd until it closes or wait seconds pass; with a reader, also until
 * the expected echo is complete. */
static void otb_probe_watch(const struct otb_probe *p, int fd, struct otb_probe_reader *rd,
                            struct otb_probe_result *res)
{
    static uint8_t buf[OTB_PROBE_READ_SIZE];
    double start = otb_probe_now(), left = p->wait;

    res->closed = "no";
    res->echo = rd ? "no" : "-";
    while (left > 0) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int rc = poll(&pfd, 1, (int)(left * 1000) + 1);
        ssize_t n;

        if (rc < 0 && errno != EINTR)
            break;
        left = p->wait - (otb_probe_now() - start);
        if (rc <= 0)
            continue;
        n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno != EINTR)) {
            res->closed = n == 0 ? "eof" : "rst";
            break;
        }
        if (n < 0)
            continue;
        if (p->save_reply && res->reply + (size_t)n <= sizeof(otb_probe_reply_kept)) {
            memcpy(otb_probe_reply_kept + res->reply, buf, (size_t)n);
            otb_probe_reply_len = res->reply + (size_t)n;
        }
        res->reply += (size_t)n;
        if (rd && otb_probe_read_reply(rd, res, buf, (size_t)n, p->payload))
            break;
    }
    res->elapsed = otb_probe_now() - start;
}

static void otb_probe_print(int conn, const struct otb_probe_result *res)
{
    printf("conn=%d reply=%zu plain=%zu echo=%s closed=%s elapsed=%.2f\n", conn, res->reply,
           res->plain, res->echo, res->closed, res->elapsed);
    fflush(stdout);
}

/* Sends flight on a new connection and reports what came back. */
static int otb_probe_one(const struct otb_probe *p, int conn, const uint8_t *flight, size_t len)
{
    static struct otb_probe_reader rd;
    struct otb_probe_result res = { 0 };
    bool decode = p->mode == OTB_PROBE_VALID || p->mode == OTB_PROBE_REPLAY;
    int fd = otb_probe_connect(p);

    if (fd < 0)
        return 1;
    if (otb_probe_send_all(fd, flight, len) < 0) {
        close(fd);
        return 1;
    }
    /* The server must see the end of this stream, not wait for the timeout. */
    if (p->mode == OTB_PROBE_TRUNCATED)
        shutdown(fd, SHUT_WR);
    if (decode) {
        memset(&rd, 0, sizeof(rd));
        otb_stream_dec_init(&rd.dec, &p->master);
    }
    otb_probe_watch(p, fd, decode ? &rd : NULL, &res);
    if (decode)
        otb_stream_dec_end(&rd.dec);
    close(fd);
    otb_probe_print(conn, &res);
    return 0;
}

/* A non-blocking connection to the server from --from (if given), its
 * connect in progress. fd or -1. */
static int otb_probe_connect_nb(const struct otb_probe *p)
{
    int fd = otb_probe_socket(p, SOCK_STREAM | SOCK_NONBLOCK);

    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)&p->server, p->server_len) < 0 &&
        errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ------------------------------------------------------------------- UDP */

/* Whether a datagram from the server opens under the key and carries the
 * payload back. */
static const char *otb_probe_udp_echo(const struct otb_probe *p, const uint8_t *in, size_t n)
{
    static uint8_t plain[OTB_UDP_MAX];
    struct otb_aead aead = { 0 };
    struct otb_addr from;
    size_t off, len;
    int rc = otb_udp_open_addr(&aead, &p->master, in, n, plain, sizeof(plain), &from, &off,
                               &len);

    otb_aead_end(&aead);
    if (rc != OTB_OK)
        return "bad";
    return len == strlen(p->payload) && memcmp(plain + off, p->payload, len) == 0 ? "yes"
                                                                                  : "no";
}

/* One sealed datagram to the target through the server; waits for the echo. */
static int otb_probe_udp(const struct otb_probe *p)
{
    static uint8_t plain[OTB_UDP_MAX], packet[OTB_UDP_MAX];
    uint8_t salt[OTB_MAX_SALT_LEN];
    struct otb_aead aead = { 0 };
    size_t hlen = otb_addr_encode(&p->target, plain), plen = strlen(p->payload), n;
    const char *echo = "no";
    size_t reply = 0;
    int fd = otb_probe_socket(p, SOCK_DGRAM);

    if (fd < 0)
        return 1;
    memcpy(plain + hlen, p->payload, plen);
    randombytes_buf(salt, p->master.key_len);
    n = otb_udp_seal(&aead, &p->master, salt, plain, hlen + plen, packet);
    otb_aead_end(&aead);
    if (n == 0 || sendto(fd, packet, n, 0, (const struct sockaddr *)&p->server,
                         p->server_len) < 0) {
        perror("otb_probe: sendto");
        close(fd);
        return 1;
    }
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    if (poll(&pfd, 1, (int)(p->wait * 1000)) > 0) {
        ssize_t got = recv(fd, packet, sizeof(packet), 0);
        if (got > 0) {
            reply = (size_t)got;
            echo = otb_probe_udp_echo(p, packet, reply);
        }
    }
    close(fd);
    printf("udp reply=%zu echo=%s\n", reply, echo);
    return 0;
}

/* ------------------------------------------------------------------ storm */

/* How a storm connection ends: a FIN, a reset, or one stray byte then a FIN.
 * A junk connection sends random bytes, a salt's length and 2 more (less than
 * a length block: the server has a salt and waits for the rest, which never
 * comes), then ends with a FIN. */
static void otb_probe_drop(const struct otb_probe *p, int fd, size_t i)
{
    if (p->mode == OTB_PROBE_JUNK) {
        uint8_t junk[OTB_MAX_SALT_LEN + 2];
        size_t len = p->master.key_len + 2;
        randombytes_buf(junk, len);
        (void)!send(fd, junk, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    } else if (i % 3 == 1) {
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    } else if (i % 3 == 2) {
        uint8_t b;
        randombytes_buf(&b, 1);
        (void)!send(fd, &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    close(fd);
}

/* Opens n connections at once, waits for them to be established, drops
 * them. Returns how many were established. */
static size_t otb_probe_storm_batch(const struct otb_probe *p, size_t first, size_t n)
{
    struct pollfd pfd[OTB_PROBE_STORM_BATCH_MAX];
    size_t ok = 0, pending = 0;
    double deadline = otb_probe_now() + p->wait;

    for (size_t i = 0; i < n; i++) {
        pfd[i] = (struct pollfd){ .fd = otb_probe_connect_nb(p), .events = POLLOUT };
        pending += pfd[i].fd >= 0;
    }
    while (pending > 0 && otb_probe_now() < deadline) {
        if (poll(pfd, n, 100) < 0 && errno != EINTR)
            break;
        for (size_t i = 0; i < n; i++) {
            if (pfd[i].fd < 0 || !pfd[i].revents)
                continue;
            ok += otb_sock_error(pfd[i].fd) == 0;
            otb_probe_drop(p, pfd[i].fd, first + i);
            pfd[i].fd = -1;
            pending--;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (pfd[i].fd >= 0)
            close(pfd[i].fd);
    return ok;
}

static int otb_probe_storm(const struct otb_probe *p)
{
    double start = otb_probe_now();
    size_t ok = 0;

    for (size_t done = 0; done < p->count;) {
        size_t n = OTB_MIN((size_t)p->parallel, p->count - done);
        ok += otb_probe_storm_batch(p, done, n);
        done += n;
    }
    printf("%s=%zu established=%zu failed=%zu elapsed=%.2f\n",
           p->mode == OTB_PROBE_JUNK ? "junk" : "storm", p->count, ok, p->count - ok,
           otb_probe_now() - start);
    return 0;
}

/* ---------------------------------------------------------------- trickle */

struct otb_probe_slot {
    int fd;
    double next;    /* when to send the next byte, or to reopen (fd < 0) */
    bool connected;
};

/* One step of a held connection: completes its connect, sends its bytes
 * when due, notices the server's close. Counts into opened and closed. */
static void otb_probe_trickle_step(const struct otb_probe *p, struct otb_probe_slot *sl,
                                   short revents, double now, size_t *opened, size_t *closed)
{
    static const uint8_t zeros[4];
    uint8_t buf[256];

    if (sl->fd < 0) {
        if (now >= sl->next && (sl->fd = otb_probe_connect_nb(p)) >= 0) {
            sl->connected = false;
            sl->next = now;
        }
        return;
    }
    if (!sl->connected && (revents & (POLLOUT | POLLERR | POLLHUP))) {
        if (otb_sock_error(sl->fd) != 0)
            goto gone;
        sl->connected = true;
        (*opened)++;
        (void)!send(sl->fd, zeros, sizeof(zeros), MSG_NOSIGNAL | MSG_DONTWAIT);
        sl->next = now + p->every;
        return;
    }
    if (sl->connected && (revents & (POLLIN | POLLERR | POLLHUP))) {
        ssize_t n = recv(sl->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            goto gone;
    }
    if (sl->connected && now >= sl->next) {
        if (send(sl->fd, zeros, 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN)
            goto gone;
        sl->next = now + p->every;
    }
    return;
gone:
    (*closed)++;
    close(sl->fd);
    sl->fd = -1;
    sl->next = now + 0.5;
}

static int otb_probe_trickle(const struct otb_probe *p)
{
    struct otb_probe_slot *slots = calloc(p->count, sizeof(*slots));
    struct pollfd *pfd = calloc(p->count, sizeof(*pfd));
    double start = otb_probe_now(), now = start;
    size_t opened = 0, closed = 0;

    if (!slots || !pfd) {
        free(slots);
        free(pfd);
        return 1;
    }
    for (size_t i = 0; i < p->count; i++)
        slots[i] = (struct otb_probe_slot){ .fd = -1, .next = start };
    while (now - start < p->wait) {
        for (size_t i = 0; i < p->count; i++) {
            short ev = slots[i].fd < 0 ? 0 : slots[i].connected ? POLLIN : POLLOUT;
            pfd[i] = (struct pollfd){ .fd = slots[i].fd, .events = ev };
        }
        if (poll(pfd, p->count, 100) < 0 && errno != EINTR)
            break;
        now = otb_probe_now();
        for (size_t i = 0; i < p->count; i++)
            otb_probe_trickle_step(p, &slots[i], pfd[i].revents, now, &opened, &closed);
    }
    for (size_t i = 0; i < p->count; i++)
        if (slots[i].fd >= 0)
            close(slots[i].fd);
    printf("trickle=%zu opened=%zu closed_by_server=%zu elapsed=%.2f\n", p->count, opened,
           closed, otb_probe_now() - start);
    free(slots);
    free(pfd);
    return 0;
}

/* ------------------------------------------------------------------- main */

static int otb_probe_run(struct otb_probe *p)
{
    static uint8_t flight[OTB_PROBE_RANDOM_MAX > OTB_PROBE_FLIGHT_MAX ? OTB_PROBE_RANDOM_MAX
                                                                       : OTB_PROBE_FLIGHT_MAX];
    size_t len;
    int rc;

    if (p->mode == OTB_PROBE_STORM || p->mode == OTB_PROBE_JUNK)
        return otb_probe_storm(p);
    if (p->mode == OTB_PROBE_UDP)
        return otb_probe_udp(p);
    if (p->mode == OTB_PROBE_TRICKLE)
        return otb_probe_trickle(p);
    if (p->mode == OTB_PROBE_FLIGHT) {
        if ((len = otb_probe_read_file(p->flight, flight, sizeof(flight))) == 0)
            return 1;
    } else {
        len = otb_probe_build_flight(p, flight);
    }
    if (p->save && otb_probe_write_file(p->save, flight, len) < 0)
        return 1;
    rc = otb_probe_one(p, 1, flight, len);
    if (rc == 0 && p->save_reply &&
        otb_probe_write_file(p->save_reply, otb_probe_reply_kept, otb_probe_reply_len) < 0)
        return 1;
    /* The identical bytes again: a replay filter must recognise the salt. */
    if (rc == 0 && p->mode == OTB_PROBE_REPLAY)
        rc = otb_probe_one(p, 2, flight, len);
    return rc;
}

int main(int argc, char **argv)
{
    static struct otb_probe probe;
    int rc;

    if (otb_crypto_init() < 0) {
        fprintf(stderr, "otb_probe: crypto initialisation failed\n");
        return 1;
    }
    rc = otb_probe_parse_args(&probe, argc, argv);
    if (rc != 0)
        return rc == 3 ? 0 : rc;
    rc = otb_probe_run(&probe);
    otb_master_wipe(&probe.master);
    return rc;
}
